"""Files on disk: atomic uploads (temp name → fsync → rename) and the storage layout (SPEC §3).

storage_dir/
  uploads/  job inputs, `<job_id>`: no extension, so nothing the client declared can
            steer which demuxer reads it (docs/security.md, "Media threat model");
            partial files are hidden `.*.part`
  results/  job results, `<job_id>.<media_type>`; FFmpeg writes hidden `.*.part` first
  jobs/     one JSON record per job, so finished results survive a restart
Every path is built from a server-made job id (and, for results, the media type the
op produced), never from a client's string.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Final

import trio

from app.protocol.errors import ErrorCode, VcsError

PARTIAL_SUFFIX: Final = ".part"
# The file system itself is full (as opposed to our quota): refused as disk_full.
DISK_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextlib.contextmanager
def refusing_when_disk_full() -> Iterator[None]:
    """Turn "no space left on device" while storing into a clean `disk_full` refusal.

    The quota should keep us below the disk's size; this is for a disk that other
    programs filled, or a quota set larger than the disk.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_FULL_ERRNOS:
            raise
        raise VcsError(
            ErrorCode.DISK_FULL,
            "The server's disk is full; nothing of this upload was kept.",
            "Try again later; tell the operator (the quota is larger than the free space).",
        ) from None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PartialFile:
    """A file that becomes visible under its final name only when `commit` succeeds.

    Used as a context manager: leaving the block without a commit deletes it.
    """

    def __init__(self, directory: Path, hash_it: bool = False) -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".", suffix=PARTIAL_SUFFIX)
        self.fd: int | None = fd
        self.path = Path(name)
        self.size = 0
        self._hash = hashlib.sha256() if hash_it else None
        self.committed = False

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.size += len(data)
        if self._hash is not None:
            self._hash.update(data)

    def write_batch(self, chunks: list[bytes]) -> None:
        """Write and hash several chunks with one system call (runs in a worker thread)."""
        assert self.fd is not None
        total = sum(map(len, chunks))
        written = os.writev(self.fd, chunks)
        if written < total:  # short write (rare): finish the rest one by one
            rest = b"".join(chunks)[written:]
            view = memoryview(rest)
            while view:
                view = view[os.write(self.fd, view) :]
        self.size += total
        if self._hash is not None:
            for chunk in chunks:
                self._hash.update(chunk)

    @property
    def digest(self) -> hashlib._Hash | None:
        """The running SHA-256 (when asked for), for bytes written to `fd` elsewhere."""
        return self._hash

    def written_elsewhere(self, nbytes: int) -> None:
        """`nbytes` were appended to `fd` without going through `write`."""
        self.size += nbytes

    def hexdigest(self) -> str:
        assert self._hash is not None
        return self._hash.hexdigest()

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    async def commit(self, final: Path) -> None:
        """fsync, then rename into place and fsync the directory (in a worker thread)."""
        fd = self.fd
        assert fd is not None

        def durable_rename() -> None:
            os.fsync(fd)
            os.replace(self.path, final)
            fsync_dir(final.parent)

        await trio.to_thread.run_sync(durable_rename)
        self.committed = True
        self._close()

    def discard(self) -> None:
        self._close()
        if not self.committed:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads = root / "uploads"
        self.results = root / "results"
        self.jobs = root / "jobs"

    def prepare(self) -> list[Path]:
        """Create the layout and sweep partial files a crash left behind; return what went."""
        for directory in (self.uploads, self.results, self.jobs):
            directory.mkdir(parents=True, exist_ok=True)
        swept: list[Path] = []
        for directory in (self.uploads, self.results, self.jobs):
            for path in directory.glob(f".*{PARTIAL_SUFFIX}"):
                path.unlink(missing_ok=True)
                swept.append(path)
        return swept

    def partial_upload(self, hash_it: bool = False) -> PartialFile:
        return PartialFile(self.uploads, hash_it)

    def partial_result(self) -> PartialFile:
        return PartialFile(self.results)

    def input_path(self, job_id: str) -> Path:
        return self.uploads / job_id

    def result_path(self, job_id: str, media_type: str) -> Path:
        return self.results / f"{job_id}.{media_type}"

    def sweep_unowned(self, owned: set[Path]) -> int:
        """Delete inputs and results that no job owns (left by a crash); return how many."""
        swept = 0
        for directory in (self.uploads, self.results):
            for path in directory.iterdir():
                if path.is_file() and path not in owned:
                    path.unlink(missing_ok=True)
                    swept += 1
        return swept
