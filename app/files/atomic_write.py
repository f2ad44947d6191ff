"""Files that appear whole or not at all: the one way the client and the server write files.

The rule, for every file we write (uploads, results, raw uploads, downloads, key files,
known_servers, authorized_keys, a chunked compress's manifest):

1. write to a hidden temporary name in the target's own directory (`.XXXX.part`, made
   by mkstemp, so a rename never crosses file systems and a crash leaves only names a
   sweep recognises);
2. fsync the file;
3. rename it over the final name (`os.replace`), or link it there when an existing file
   must win (`replace=False`: key files, which are never replaced, and downloads, which
   take a numbered name beside a file of the same name);
4. fsync the directory, so the new name itself survives a crash.

A reader sees the old file or the new one, never a torn one; a crash before step 4
leaves the old one (or nothing) and a `.part` file that `sweep_partials` removes.

Steps 2 and 4 cost milliseconds on a real disk. Payloads commit in a worker thread
(`commit`); small files written once in a while (keys, pins, settings) do it inline.
`durable=False` (steps 1 and 3 only) is for a file that may lose its last version in a
power cut but must never be torn; no caller needs it since job records moved into the
job store (app/server/stores/).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Final

import trio

PARTIAL_SUFFIX: Final = ".part"
PARTIAL_PREFIX: Final = "."
# Where hard links are not possible (some network and FAT file systems).
_NO_LINKS: Final = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK})


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file another program wrote (FFmpeg) before anything records that it exists."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_umask_lock = threading.Lock()


def _umask() -> int:
    # Reading the umask means setting it; briefly, under a lock.
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


class AtomicFile:
    """A file that becomes visible under its final name only when `commit` succeeds.

    Used as a context manager: leaving the block without a commit deletes it. `mode`
    is the final file's mode before the umask (mkstemp's 0600 when None). Optionally
    hashes what goes through `write`/`write_batch` (SHA-256).
    """

    def __init__(self, directory: Path, *, hash_it: bool = False, mode: int | None = None):
        fd, name = tempfile.mkstemp(dir=directory, prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX)
        self.fd: int | None = fd
        self.path = Path(name)
        self.size = 0
        self._hash = hashlib.sha256() if hash_it else None
        self.committed = False
        self._synced = False
        if mode is not None:
            try:
                os.fchmod(fd, mode & ~_umask())
            except BaseException:
                self.discard()
                raise

    def write(self, data: bytes | memoryview) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(data)
        if self._hash is not None:
            self._hash.update(data)

    def write_batch(self, chunks: list[bytes]) -> None:
        """Write and hash several chunks with one system call (runs in a worker thread)."""
        assert self.fd is not None
        total = sum(map(len, chunks))
        written = os.writev(self.fd, chunks)
        if written < total:  # short write (rare): finish the rest one by one
            view = memoryview(b"".join(chunks))[written:]
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
        """`nbytes` were appended to `fd` without going through `write` (any thread)."""
        self.size += nbytes

    def hexdigest(self) -> str:
        assert self._hash is not None
        return self._hash.hexdigest()

    def commit_now(self, final: Path, *, replace: bool = True, durable: bool = True) -> bool:
        """fsync, rename (or link) into place, fsync the directory. With `replace=False`
        an existing `final` wins: returns False and this file stays uncommitted (the
        caller may try another name; leaving the block deletes it)."""
        fd = self.fd
        assert fd is not None and not self.committed
        if durable and not self._synced:
            os.fsync(fd)
            self._synced = True
        if replace:
            os.replace(self.path, final)
        elif not _link_new(self.path, final):
            return False
        if durable:
            fsync_dir(final.parent)
        self.committed = True
        self._close()
        return True

    async def commit(self, final: Path, *, replace: bool = True) -> bool:
        """`commit_now` in a worker thread (fsync waits for the disk)."""
        return await trio.to_thread.run_sync(lambda: self.commit_now(final, replace=replace))

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def discard(self) -> None:
        self._close()
        if not self.committed:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()


def _link_new(path: Path, final: Path) -> bool:
    """Give `path` the name `final` if that name is free (else False), never replacing
    a file another process made meanwhile."""
    try:
        os.link(path, final, follow_symlinks=False)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        try:  # no hard links here: reserve the name, then move onto our own placeholder
            os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC))
        except FileExistsError:
            return False
        os.replace(path, final)
        return True
    path.unlink()
    return True


def atomic_write(
    path: Path, data: bytes, *, mode: int = 0o600, replace: bool = True, durable: bool = True
) -> bool:
    """Write a small file by the rule above; returns False when `replace=False` and
    `path` already existed (it is left as it was)."""
    with AtomicFile(path.parent, mode=mode) as partial:
        partial.write(data)
        return partial.commit_now(path, replace=replace, durable=durable)


def sweep_partials(directory: Path) -> list[Path]:
    """Delete the temporary files a crash left in `directory`; returns what went."""
    swept = []
    for path in directory.glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            swept.append(path)
    return swept


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path`'s lock file (`path` + `.lock`), for a
    read-modify-write edit that two processes may attempt at once."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
