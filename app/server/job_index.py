"""The job index on disk: one small JSON record per job, so jobs survive a restart.

It only reads and writes records; what a restart does with them (fail the unfinished,
keep the results, sweep orphaned files) is the registry's `restart_sweep`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from app.server.job import Job
from app.wire.atomic_write import atomic_write

log = logging.getLogger(__name__)


class JobIndex:
    """`jobs/<job_id>.json`, each replaced atomically (a reader sees the old or the new)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def _path(self, job_id: str) -> Path:
        return self._dir / f"{job_id}.json"

    def save(self, job: Job) -> None:
        try:
            # Not durable (no fsync) from the event loop: see app/wire/atomic_write.py.
            atomic_write(self._path(job.id), json.dumps(job.to_record()).encode(), durable=False)
        except OSError as exc:
            # A full disk must not take the server (or the job) down: memory holds the
            # truth while we run; only a restart would miss this record.
            log.error("cannot write the record of job %s: %s", job.id, exc)

    def delete(self, job_id: str) -> None:
        self._path(job_id).unlink(missing_ok=True)

    def load(self) -> list[Job]:
        """Every readable record; an unreadable one is dropped with a warning."""
        jobs = []
        for record in sorted(self._dir.glob("*.json")):
            try:
                jobs.append(Job.from_record(json.loads(record.read_text())))
            except (ValueError, KeyError, TypeError, OSError):
                log.warning("dropping unreadable job record %s", record)
                record.unlink(missing_ok=True)
        return jobs
