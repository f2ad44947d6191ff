"""Blobs as files under the storage directory (one node; the default blob store).

`<root>/<key>`: uploads/<job>, results/<job>-<run>.<type>, raw/<name>.mp4. An upload is a hidden
`.*.part` file in the key's directory until `commit` fsyncs it and renames it into
place (docs/operations.md); `prepare` sweeps the partial files a crash left. Payloads can be
spliced straight from the socket into the partial file (`fd`), and downloads leave
with sendfile (`file`): this backend adds nothing to today's disk path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

import trio

from app.files.atomic_write import PARTIAL_PREFIX, PARTIAL_SUFFIX, AtomicFile, fsync_dir
from app.server.stores.blob_store import AREAS, BlobSource, BlobUpload, check_key


class LocalBlobUpload(AtomicFile):
    """A partial file in the key's own directory that `commit` puts under the key."""

    def __init__(self, final: Path, hash_it: bool) -> None:
        super().__init__(final.parent, hash_it=hash_it)
        self.final = final

    async def commit_blob(self) -> None:
        await self.commit(self.final)


class LocalBlob:
    """A stored file, opened for reading."""

    def __init__(self, file: BinaryIO) -> None:
        self.file: BinaryIO | None = file
        self._file = file

    async def read(self, max_bytes: int) -> bytes:
        return await trio.to_thread.run_sync(self._file.read, max_bytes)


class LocalBlobStore:
    def __init__(self, root: Path, limiter: trio.CapacityLimiter | None = None) -> None:
        self.root = root
        self._limiter = limiter or trio.CapacityLimiter(8)

    @property
    def description(self) -> str:
        return f"local directory {self.root}"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def prepare(self) -> int:
        def sweep() -> int:
            swept = 0
            for area in AREAS:
                directory = self.root / area
                directory.mkdir(parents=True, exist_ok=True)
                for partial in directory.rglob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
                    partial.unlink(missing_ok=True)
                    swept += 1
            return swept

        return await trio.to_thread.run_sync(sweep, limiter=self._limiter)

    @contextlib.asynccontextmanager
    async def upload(
        self, key: str, size_hint: int, hash_it: bool = False
    ) -> AsyncIterator[BlobUpload]:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = LocalBlobUpload(final, hash_it)
        with partial:
            yield partial

    @contextlib.asynccontextmanager
    async def open(self, key: str) -> AsyncIterator[BlobSource]:
        path = self.path(key)
        file = await trio.to_thread.run_sync(path.open, "rb", limiter=self._limiter)
        try:
            yield LocalBlob(file)
        finally:
            file.close()

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str, scratch: Path) -> AsyncIterator[Path]:
        """The store's own file: no copy is made (nor deleted)."""
        path = self.path(key)
        if not path.exists():
            raise FileNotFoundError(path)
        yield path

    async def put_file(self, path: Path, key: str) -> None:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)

        def durable_rename() -> None:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(path, final)
            fsync_dir(final.parent)

        await trio.to_thread.run_sync(durable_rename, limiter=self._limiter)

    async def get_file(self, key: str, path: Path) -> None:
        source = self.path(key)
        await trio.to_thread.run_sync(shutil.copyfile, source, path, limiter=self._limiter)

    async def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        path = self.path(key)
        path.unlink(missing_ok=True)
        # An emptied per-job directory (chunks/<job>/) goes too.
        if path.parent.parent != self.root:
            with contextlib.suppress(OSError):
                path.parent.rmdir()

    async def keys(self, area: str) -> list[str]:
        def list_all() -> list[str]:
            directory = self.root / area
            return [
                path.relative_to(self.root).as_posix()
                for path in sorted(directory.rglob("*") if directory.is_dir() else [])
                if path.is_file() and not path.name.startswith(".")
            ]

        return await trio.to_thread.run_sync(list_all, limiter=self._limiter)

    async def abort_uploads_except(self, in_progress: Callable[[], Awaitable[set[str]]]) -> int:
        return 0  # partial files are this node's own: `prepare` sweeps them at start
