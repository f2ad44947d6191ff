"""A finished job put on disk the way the server leaves one (it reloads them at start):
for download tests and figures without running FFmpeg first."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from app.server.job import Job, JobState, new_job_id


def seed_finished_job(storage: Path, source: Path, sha256: str) -> str:
    """Put a finished job on disk the way the server leaves one, for a download figure.

    The server reloads finished jobs at start (they survive restarts), so this is the
    server's own code path, not a shortcut around it.
    """
    for sub in ("uploads", "results", "jobs"):
        (storage / sub).mkdir(parents=True, exist_ok=True)
    job_id = new_job_id()
    result = storage / "results" / f"{job_id}.mp4"
    os.link(source, result) if source.stat().st_dev == storage.stat().st_dev else shutil.copy(
        source, result
    )
    job = Job(
        id=job_id,
        op="compress",
        params={},
        client_ip="127.0.0.1",
        filename="bench.mp4",
        input_path=storage / "uploads" / job_id,
        input_size=result.stat().st_size,
        input_media_type="mp4",
        state=JobState.DONE,
        result_path=result,
        result_media_type="mp4",
        result_size=result.stat().st_size,
        result_sha256=sha256,
        finished_at=time.time(),
    )
    (storage / "jobs" / f"{job_id}.json").write_text(json.dumps(job.to_record()))
    return job_id
