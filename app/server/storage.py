"""Files on disk: the storage layout (SPEC §3); every file is written by app/wire/atomic_write.py.

storage_dir/
  uploads/  job inputs, `<job_id>.<media_type>`; partial files are hidden `.*.part`
  results/  job results, `<job_id>.<media_type>`; FFmpeg writes hidden `.*.part` first
  jobs/     one JSON record per job, so finished results survive a restart
Every path is built from a server-made job id and a validated media type, never from
a client's string.
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

    def input_path(self, job_id: str, media_type: str) -> Path:
        return self.uploads / f"{job_id}.{media_type}"

    def result_path(self, job_id: str, media_type: str) -> Path:
        return self.results / f"{job_id}.{media_type}"

    def record_path(self, job_id: str) -> Path:
        return self.jobs / f"{job_id}.json"

    def files_on_disk(self) -> list[Path]:
        return [p for d in (self.uploads, self.results) for p in d.iterdir() if p.is_file()]
