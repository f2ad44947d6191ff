"""A flood of key exchanges from 4 addresses while a normal client runs a job (issue 17).

    .venv/bin/python -m bench.flood [--seconds 30] [--write]

Loopback only, bounded in time. A real vcs-serve with its default limits; 4 loopback
addresses (127.0.0.2-5) open connections as fast as they can, each sending a real
`key_exchange` hello and reading the answer; meanwhile a client on 127.0.0.9 runs whole
`convert` jobs on one session (upload, long polls, download), one after another. The
same jobs without the flood are the reference. The goal: the normal client's jobs
complete, and the flooders are answered with the limit error.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

from app.client.api import VcsClient
from app.client.keyring import Keyring
from app.wire.key_files import load_or_create_private_key
from bench.net import running_server
from bench.report import stamp, table, write_section
from tests.key_exchange_flood import flood_key_exchanges
from tests.media_files import make_clip

FLOODERS = [f"127.0.0.{n}" for n in range(2, 6)]
NORMAL = "127.0.0.9"


async def one_job(client: VcsClient, clip: Path, into: Path) -> float:
    """Seconds for a whole job on one session: upload, status until done, download."""
    start = time.perf_counter()
    async with client.session():
        job_id = str((await client.upload("convert", clip, {"format": "mkv"}))["job_id"])
        for _ in range(120):
            status = await client.status(job_id, wait_s=10)
            if status["state"] in ("done", "failed", "cancelled"):
                break
        if status["state"] != "done":
            raise RuntimeError(f"the normal client's job ended {status['state']}")
        got = await client.download(job_id, into)
    got.path.unlink()
    return time.perf_counter() - start


async def jobs_for(client: VcsClient, clip: Path, into: Path, seconds: float) -> list[float]:
    """Jobs one after another, a second apart (a person or a script, not a flood)."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or not times:
        times.append(await one_job(client, clip, into))
        await trio.sleep(1)
    return times


async def flooded(
    client: VcsClient, clip: Path, into: Path, seconds: float, key: object
) -> tuple[list[float], dict[str, int], float]:
    result: dict[str, object] = {}

    async def normal() -> None:
        await trio.sleep(1)  # the flood is under way
        result["times"] = await jobs_for(client, clip, into, seconds - 2)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(normal)
        answers = await flood_key_exchanges(client.address, FLOODERS, seconds, key)  # type: ignore[arg-type]
    times = result["times"]
    assert isinstance(times, list)
    return times, dict(answers), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vcs-bench-flood-"))
    clip = make_clip(work / "clip.mp4", seconds=2, size="320x240", rate=15)
    key_file = work / "server_key.pem"
    load_or_create_private_key(key_file)
    keyring = Keyring(work / "client")
    flood_key = keyring.client_key()
    into = work / "into"
    into.mkdir()
    with running_server(work / "storage", "--key-file", str(key_file)) as server:
        client = VcsClient(server.address, source_host=NORMAL, keyring=keyring)
        print("reference jobs ...", file=sys.stderr)
        alone = trio.run(jobs_for, client, clip, into, min(10.0, args.seconds))
        print(f"flood for {args.seconds:.0f} s ...", file=sys.stderr)
        times, answers, wall = trio.run(flooded, client, clip, into, args.seconds, flood_key)
    total = sum(answers.values())
    refused = answers.get("too_many_key_exchanges", 0)
    rows = [
        [
            "normal client's jobs, no flood (reference)",
            f"{len(alone)}",
            f"{statistics.median(alone):.2f} s",
            "",
        ],
        [
            "normal client's jobs during the flood",
            f"{len(times)} (all done)",
            f"{statistics.median(times):.2f} s",
            f"{statistics.median(times) / statistics.median(alone):.2f}× the reference",
        ],
        [
            "flooders' key exchanges",
            f"{total} in {wall:.0f} s",
            f"{total / wall:.0f} per second",
            ", ".join(f"{code}: {count}" for code, count in sorted(answers.items())),
        ],
    ]
    text = (
        f"4 addresses flood a vcs-serve (default limits: a burst of 32 and 4/s per address, "
        f"100/s in all) with key-exchange hellos for {args.seconds:.0f} s; a client on a "
        "fifth address runs whole `convert` jobs (2 s 320x240 clip) on one session each, a "
        "second apart. "
        f"{refused} of the {total} flood hellos ({refused / max(total, 1):.0%}) were "
        "refused with `too_many_key_exchanges`; the rest got a signed answer (what the "
        "limits let through).\n\n" + table(["measure", "count", "median", "detail"], rows)
    )
    print(text)
    if args.write:
        command = "python -m bench.flood" + (
            f" --seconds {args.seconds:g}" if args.seconds != 30 else ""
        )
        write_section("flood", "A key-exchange flood (issue 17)", stamp(command) + "\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
