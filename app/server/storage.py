"""Files on disk: the storage layout (docs/operations.md); app/files/atomic_write.py writes them.

storage_dir/
  jobs.sqlite3  the job store of one node (app/server/stores/sqlite_jobs.py)
  uploads/      job inputs, `<job_id>`: no extension, so nothing the client declared
                can steer which demuxer reads it (docs/security.md, "Media threat
                model"); partial files are hidden `.*.part`   } the local blob store
  results/      job results, `<job_id>-<run>.<media_type>`    } (stores/local_blobs.py);
  raw/          raw uploads (docs/protocol.md), `<32 hex>.mp4`       } S3 holds these instead
  work/         FFmpeg's outputs while it writes them, local copies of inputs kept in
                S3: temporary, emptied at start; `.<job_id>.job/`: what a job has
                finished so far (a chunked compress's chunks), kept at start for the
                jobs a node alone resumes
Every path is built from a server-made job id (and, for results, the media type the
op produced), never from a client's string.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Final

from app.files.atomic_write import AtomicFile
from app.protocol.errors import ErrorCode, VcsError

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


class WorkArea:
    """`storage_dir/work`: where FFmpeg writes and inputs kept in S3 are copied to, and
    each running job's own directory (`job_dir`)."""

    def __init__(self, storage_dir: Path) -> None:
        self.dir = storage_dir / "work"

    def prepare(self, keep_jobs: Collection[str] = ()) -> int:
        """Create it and delete what a crash left there, but the directories of
        `keep_jobs` (jobs this node resumes); how many entries went."""
        self.dir.mkdir(parents=True, exist_ok=True)
        kept = {self.job_dir(job_id).name for job_id in keep_jobs}
        swept = 0
        for path in self.dir.iterdir():
            if path.name in kept and path.is_dir() and not path.is_symlink():
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            swept += 1
        return swept

    def job_dir(self, job_id: str) -> Path:
        """The job's own directory: what its runs on this node keep between them (a
        chunked compress's finished chunks: docs/compression.md, "Resume"). Made by
        the op that needs it; removed by `remove_job_dir` when the job leaves the node."""
        return self.dir / f".{job_id}.job"

    def remove_job_dir(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def partial_result(self) -> AtomicFile:
        return AtomicFile(self.dir)
