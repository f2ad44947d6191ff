"""Files on disk: the storage layout (SPEC §3); every file is written by app/wire/atomic_write.py.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from app.protocol.errors import ErrorCode, VcsError
from app.wire.atomic_write import AtomicFile, sweep_partials

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
        return [p for d in (self.uploads, self.results, self.jobs) for p in sweep_partials(d)]

    def partial_upload(self, hash_it: bool = False) -> AtomicFile:
        return AtomicFile(self.uploads, hash_it=hash_it)

    def partial_result(self) -> AtomicFile:
        return AtomicFile(self.results)

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
