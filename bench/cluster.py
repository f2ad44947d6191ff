"""Cluster engines (issue 18): blob store transfers through S3 (SeaweedFS) against the
local directory, and the job store's work queue on PostgreSQL against SQLite.

    python -m bench.cluster [--size-mib 256] [--jobs 400] [--write]

- upload / download: a payload written the way the upload sink writes it (256 KiB
  chunks in batches from a worker thread) and read back the way a download reads it,
  median of 3 rounds, local directory vs S3 in the same run (compare the ratio);
- local copy / put file: what a node pays to give FFmpeg its input from S3 and to
  store the result back;
- claim latency: one `claim_task` transaction with a queue of queued jobs;
- jobs/s: whole queue cycles (accept, stored, claim, finish) by 4 workers at once.
PostgreSQL runs with fsync on (durable, as in production); loopback only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from app.server.stores.blob_store import BlobStore, input_key, result_key
from app.server.stores.job_store import FinishedResult, NewJob
from app.server.stores.local_blobs import LocalBlobStore
from app.server.stores.postgres_jobs import open_postgres_store
from app.server.stores.s3_blobs import S3BlobStore
from app.server.stores.s3_client import S3Location
from app.server.stores.sql_jobs import SqlJobStore
from app.server.stores.sqlite_jobs import open_sqlite_store
from bench.report import stamp, table, write_section
from deploy.postgres import DATABASE, PostgresServer
from deploy.seaweedfs import REGION, SeaweedServer

MiB = 1024 * 1024
CHUNK = 256 * 1024
ROUNDS = 3


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def blob_round(store: BlobStore, payload: bytes, scratch: Path, n: int) -> dict[str, float]:
    """Seconds per operation for one round."""
    key = input_key(f"bench{n}")
    result = result_key(f"bench{n}", 1, "mp4")

    async def upload() -> None:
        async with store.upload(key, len(payload)) as up:
            for start in range(0, len(payload), 4 * CHUNK):  # 4 chunks per batch
                batch = [payload[i : i + CHUNK] for i in range(start, start + 4 * CHUNK, CHUNK)]
                await trio.to_thread.run_sync(up.write_batch, batch)
            await up.commit()

    async def download() -> None:
        async with store.open(key) as source:
            while await source.read(1024 * 1024):
                pass

    async def local_copy() -> None:
        async with store.local_copy(key, scratch):
            pass

    async def put_file() -> None:
        path = scratch / "result.part"
        path.write_bytes(payload)
        await store.put_file(path, result)

    times = {
        "upload": await timed(upload),
        "download": await timed(download),
        "local copy": await timed(local_copy),
        "put file": await timed(put_file),
    }
    await store.delete(key)
    await store.delete(result)
    return times


async def blob_figures(store: BlobStore, payload: bytes, scratch: Path) -> dict[str, float]:
    """MB/s per operation, median of ROUNDS."""
    scratch.mkdir(parents=True, exist_ok=True)
    rounds = [await blob_round(store, payload, scratch, n) for n in range(ROUNDS)]
    return {
        name: len(payload) / statistics.median(r[name] for r in rounds) / 1e6 for name in rounds[0]
    }


def new_job(n: int) -> NewJob:
    job_id = f"{n:032x}"
    return NewJob(
        id=job_id,
        op="compress",
        params={},
        client_ip=f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
        filename="clip.mp4",
        input_key=input_key(job_id),
        input_size=1000,
        input_media_type="mp4",
    )


async def queue_figures(store: SqlJobStore, jobs: int) -> dict[str, float]:
    await store.set_quota_limit(10**15)
    await store.heartbeat()
    for n in range(jobs):
        job = new_job(n)
        await store.accept_upload(job)
        await store.upload_stored(job.id)
    latencies = []
    for _ in range(jobs):
        start = time.perf_counter()
        task = await store.claim_task(lease_s=30)
        latencies.append(time.perf_counter() - start)
        assert task is not None
        await store.finish_job(task, FinishedResult(f"results/{task.job_id}.mp4", "mp4", 10, "0"))
    latencies.sort()
    done = [0]

    async def worker(offset: int) -> None:
        n = jobs + offset
        while done[0] < jobs:
            job = new_job(n)
            n += 4
            await store.accept_upload(job)
            await store.upload_stored(job.id)
            task = await store.claim_task(lease_s=30)
            if task is not None:
                await store.finish_job(task, FinishedResult(f"results/{job.id}.mp4", "mp4", 1, "0"))
                done[0] += 1

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for offset in range(4):
            nursery.start_soon(worker, offset)
    elapsed = time.perf_counter() - start
    return {
        "claim median ms": statistics.median(latencies) * 1000,
        "claim p95 ms": latencies[int(len(latencies) * 0.95)] * 1000,
        "jobs/s": done[0] / elapsed,
    }


async def run(args: argparse.Namespace, work: Path) -> str:
    payload = os.urandom(args.size_mib * MiB)
    postgres = PostgresServer.create(work).start()
    seaweed = SeaweedServer.create(work).start()
    try:
        postgres.create_database(DATABASE)
        local = LocalBlobStore(work / "storage")
        s3 = S3BlobStore(
            S3Location(
                seaweed.bucket,
                endpoint=seaweed.endpoint,
                region=REGION,
                access_key=seaweed.access_key,
                secret_key=seaweed.secret_key,
            )
        )
        await local.prepare()
        await s3.prepare()
        on_disk = await blob_figures(local, payload, work / "storage" / "scratch")
        on_s3 = await blob_figures(s3, payload, work / "storage" / "scratch")
        rows = []
        for name in on_disk:
            if name == "local copy":  # the local store hands FFmpeg its own file
                rows.append([name, "no copy", f"{on_s3[name]:.0f}", "—"])
            else:
                ratio = on_s3[name] / on_disk[name]
                rows.append([name, f"{on_disk[name]:.0f}", f"{on_s3[name]:.0f}", f"{ratio:.2f}"])
        text = (
            f"Blob store, one {args.size_mib} MiB payload, median of {ROUNDS} rounds (MB/s):\n\n"
            + table(["operation", "local directory", "S3 (SeaweedFS)", "S3 / local"], rows)
        )
        sqlite = open_sqlite_store(work / "sqlite")
        pg = open_postgres_store(postgres.dsn(), "bench")
        on_sqlite = await queue_figures(sqlite, args.jobs)
        on_pg = await queue_figures(pg, args.jobs)
        sqlite.close()
        pg.close()
        rows = [[name, f"{on_sqlite[name]:.2f}", f"{on_pg[name]:.2f}"] for name in on_sqlite]
        text += (
            f"\nWork queue, {args.jobs} queued jobs, then 4 workers cycling "
            "accept → stored → claim → finish:\n\n"
            + table(["figure", "SQLite (embedded)", "PostgreSQL 15"], rows)
        )
        return text
    finally:
        seaweed.remove()
        postgres.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vcs-bench-cluster-") as work:
        text = trio.run(run, args, Path(work))
    print(text)
    if args.write:
        write_section(
            "cluster",
            "Cluster engines (issue 18)",
            stamp("python -m bench.cluster --write")
            + "\nSeaweedFS (`weed server -s3`, one volume server) and PostgreSQL 15 on "
            "loopback, sharing the machine's cores with the benchmark.\n\n" + text,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
