"""The blob store interface: job inputs, results (and, later, chunks) by key (docs/scale.md).

Two backends: `LocalBlobStore` (files under the storage directory; the default) and
`S3BlobStore` (any S3-compatible store, shared by a cluster's nodes). Both keep the
all-or-nothing rule of docs/operations.md: an upload becomes visible under its key only when
committed; leaving its block any other way removes every byte of it.

FFmpeg reads and writes local files only (docs/security.md: the `file` protocol alone), so a
node works on a local copy (`local_copy`) and hands its result back with `put_file`;
for the local backend both are the store's own files and cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from app.wire.payload_receive import PayloadSink

# Keys are made by the server: `<area>/<name>` or `<area>/<job>/<name>`, never a
# client's string (a client's name must not reach a path or an object key).
KEY_RE: Final = re.compile(r"[a-z]+(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){1,2}", re.ASCII)
UPLOADS: Final = "uploads"
RESULTS: Final = "results"
RAW: Final = "raw"
CHUNKS: Final = "chunks"
# Every area a server writes; sweeps of orphaned blobs look at these.
AREAS: Final = (UPLOADS, RESULTS, RAW, CHUNKS)


def check_key(key: str) -> str:
    if not KEY_RE.fullmatch(key) or ".." in key:
        raise ValueError(f"not a blob key: {key!r}")
    return key


def input_key(job_id: str) -> str:
    """A job's upload, with no extension: nothing the client declared may steer which
    demuxer reads it (docs/security.md, "Media threat model")."""
    return check_key(f"{UPLOADS}/{job_id}")


def result_key(job_id: str, attempt: int, media_type: str) -> str:
    """A job's result from one run: a node that lost its task (and runs on) never
    writes over the result of the run that replaced it."""
    return check_key(f"{RESULTS}/{job_id}-{attempt}.{media_type}")


def raw_key(name: str) -> str:
    return check_key(f"{RAW}/{name}.mp4")


def chunk_key(job_id: str, name: str) -> str:
    """A chunk a cluster node encoded for a job (docs/scale.md, "Chunks on the queue")."""
    return check_key(f"{CHUNKS}/{job_id}/{name}")


def job_of_chunk(key: str) -> str | None:
    area, _, rest = key.partition("/")
    return rest.partition("/")[0] or None if area == CHUNKS else None


def job_of_result(key: str) -> str | None:
    """The job id a results/ key was made for."""
    area, _, name = key.partition("/")
    if area != RESULTS:
        return None
    return name.rsplit(".", 1)[0].rsplit("-", 1)[0] or None


class BlobUpload(PayloadSink, Protocol):
    """A blob being written: what `receive_payload` fills while the payload arrives
    (app/wire/payload_receive.py: `fd` is a local file it may splice into, or None when
    every byte must go through `write_batch`, as for an object store's parts)."""

    def hexdigest(self) -> str: ...

    async def commit_blob(self) -> None:
        """Make the blob visible under its key (durably); until then nobody sees it."""


class BlobSource(Protocol):
    """A stored blob being read. `file` is a local file (sent with sendfile) or None;
    `read` gives the next bytes, b"" at the end (in the event loop, via a thread)."""

    @property
    def file(self) -> BinaryIO | None: ...

    async def read(self, max_bytes: int) -> bytes: ...


class BlobStore(Protocol):
    """Blobs by key. Every method may block on disk or network: each runs its blocking
    part in a worker thread under the store's own limiter."""

    @property
    def description(self) -> str:
        """Where the blobs live, for the start-up log (never a credential)."""

    async def prepare(self) -> int:
        """Sweep what a crash left half-written; the number of leftovers removed."""

    def upload(
        self, key: str, size_hint: int, hash_it: bool = False
    ) -> AbstractAsyncContextManager[BlobUpload]:
        """A new blob; visible under `key` only after `await upload.commit_blob()` in the
        block. `size_hint` is the declared size (it sizes an object store's parts)."""

    def open(self, key: str) -> AbstractAsyncContextManager[BlobSource]:
        """Read a stored blob (FileNotFoundError if there is none)."""

    def local_copy(self, key: str, scratch: Path) -> AbstractAsyncContextManager[Path]:
        """A local file holding the blob for as long as the block runs (FFmpeg's input)."""

    async def put_file(self, path: Path, key: str) -> None:
        """Store a finished local file under `key`; `path` is gone afterwards."""

    async def get_file(self, key: str, path: Path) -> None:
        """Write the blob to the local file `path` (FileNotFoundError if there is none)."""

    async def size(self, key: str) -> int | None:
        """The stored blob's size, None if there is none."""

    async def delete(self, key: str) -> None:
        """Remove the blob (no error if there is none)."""

    async def keys(self, area: str) -> list[str]:
        """Every stored key under `area` (e.g. "uploads"), for sweeps of orphans."""

    async def abort_uploads_except(self, in_progress: Callable[[], Awaitable[set[str]]]) -> int:
        """Abort unfinished uploads other nodes left (killed mid-upload), but not those
        whose keys `in_progress()` names (read after listing, so an upload that starts
        meanwhile is spared); how many went. A local directory has none to abort: a
        node sweeps its own partial files at start (`prepare`)."""
