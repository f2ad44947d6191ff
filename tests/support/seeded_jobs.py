"""A finished job put in storage the way the server leaves one (its result file and its
row in the job store): for download tests and figures without running FFmpeg first."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import trio

from app.server.config import DEFAULT_QUOTA_BYTES
from app.server.job import JobRecord, JobState, new_job_id
from app.server.stores.blob_store import input_key, result_key
from app.server.stores.sqlite_jobs import open_sqlite_store


def seed_finished_job(storage: Path, source: Path, sha256: str) -> str:
    """Put a finished job in `storage` (the server's default stores), for a download;
    call it before the server starts.

    Finished jobs stay downloadable across restarts, so this is a state the server
    itself reaches, not a shortcut around it; the row goes through the store's own
    `import_job`, which holds the result's bytes against the quota.
    """
    job_id = new_job_id()
    key = result_key(job_id, 1, "mp4")
    result = storage / key
    result.parent.mkdir(parents=True, exist_ok=True)
    if source.stat().st_dev == storage.stat().st_dev:
        os.link(source, result)
    else:
        shutil.copy(source, result)
    size = result.stat().st_size
    now = time.time()
    record = JobRecord(
        id=job_id,
        op="compress",
        params={},
        client_ip="127.0.0.1",
        owner=None,
        filename="bench.mp4",
        input_key=input_key(job_id),
        input_size=size,
        input_media_type="mp4",
        state=JobState.DONE,
        phase="done",
        progress=1.0,
        eta_s=0.0,
        error=None,
        result_key=key,
        result_media_type="mp4",
        result_size=size,
        result_sha256=sha256,
        report={"input_size": size, "output_size": size, "reduction": 0.0},
        created_at=now,
        finished_at=now,
        downloaded=False,
        input_reserved=0,
        result_reserved=size,
        node="local",
        attempts=1,
    )

    async def insert() -> None:
        store = open_sqlite_store(storage)
        try:
            # Seeded before the server starts: it sets its own limit then, and keeps
            # the bytes held here.
            await store.set_quota_limit(DEFAULT_QUOTA_BYTES)
            assert await store.import_job(record)
        finally:
            store.close()

    trio.run(insert)
    return job_id
