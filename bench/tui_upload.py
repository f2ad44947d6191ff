"""Upload rate through the TUI (trio in guest mode on Textual's asyncio loop) against the
same VcsClient call under plain `trio.run`, to a real vcs-serve on loopback. Both time
the whole `upload()`: client SHA-256, sending, the server's verification, `accepted`.

    .venv/bin/python -m bench.tui_upload --mib 256
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import trio

from app.client.api import VcsClient
from app.tui.app import VcsTui
from app.tui.jobs import Step, TrackedJob
from tests.support.server_process import ServerProcess


async def through_tui(server: ServerProcess, path: Path) -> float:
    app = VcsTui(server.address, folder=path.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        job = TrackedJob(path, "compress", {})

        async def submit() -> None:
            app.runner.submit([job])

        start = time.monotonic()
        app.guest.start_soon(submit)
        while job.step in (Step.WAITING, Step.HASHING, Step.UPLOADING):
            await pilot.pause(0.005)
        elapsed = time.monotonic() - start
        assert job.step in (Step.QUEUED, Step.RUNNING, Step.FAILED), job.step
    return elapsed


def plain_trio(server: ServerProcess, path: Path) -> float:
    async def upload() -> float:
        start = time.monotonic()
        await VcsClient(server.address).upload("compress", path)
        return time.monotonic() - start

    return trio.run(upload)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    size = args.mib << 20
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.mp4"
        path.write_bytes(os.urandom(1 << 20) * args.mib)
        runs = (
            ("plain trio.run", lambda s: plain_trio(s, path)),
            ("TUI, trio guest mode", lambda s: asyncio.run(through_tui(s, path))),
        )
        for name, run in runs:
            server = ServerProcess(Path(tmp) / f"storage-{len(name)}").start()
            try:
                elapsed = run(server)
            finally:
                server.stop()
            rate = size / elapsed / 1e6
            print(f"{name:22} {rate:6.0f} MB/s  ({args.mib} MiB in {elapsed:.2f} s)")


if __name__ == "__main__":
    main()
