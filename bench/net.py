"""Network, disk and memory figures of vcs-serve, against the machine's own references.

    .venv/bin/python -m bench.net [--size-mib 2048] [--quick] [--write]

Loopback only, bounded in time. Every figure is compared with references measured in
the same run (iperf3 with 1,400-byte writes and with 1,400-byte segments, dd with
fsync into the storage dir), because machines here are shared and noisy. See
bench/README.md for what each goal means.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trio

from app.client.address import ServerAddress
from app.client.api import VcsClient
from bench.report import stamp, table, write_section
from tests.seeded_jobs import seed_finished_job
from tests.server_process import ServerProcess

PACKET = 1400
MiB = 1024 * 1024


# ---------------------------------------------------------------- references


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iperf3_bytes_per_s(extra: list[str], seconds: int, attempts: int = 3) -> float | None:
    """Loopback TCP rate of iperf3 (None when iperf3 is not installed or never reports)."""
    if shutil.which("iperf3") is None:
        return None
    for _ in range(attempts):  # its server may be slow to listen on a busy machine
        port = free_port()
        server = subprocess.Popen(
            ["iperf3", "-s", "-1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            out = subprocess.run(
                ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J", *extra],
                capture_output=True,
                text=True,
                timeout=seconds + 20,
                check=False,
            ).stdout
        finally:
            server.kill()
            server.wait()
        try:
            return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 8
        except (ValueError, KeyError, TypeError):
            continue
    return None


def dd_fsync_bytes_per_s(directory: Path, size: int) -> float:
    path = directory / "dd-probe.bin"
    start = time.perf_counter()
    subprocess.run(
        [
            "dd",
            "if=/dev/zero",
            f"of={path}",
            "bs=1M",
            f"count={size // MiB}",
            "conv=fsync",
            "status=none",
        ],
        check=True,
    )
    elapsed = time.perf_counter() - start
    path.unlink()
    return size / elapsed


# ---------------------------------------------------------------- measuring the service


class RssSampler:
    """Peak resident memory of one process, sampled every 20 ms from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak_kib = max(self.peak_kib, self.rss_kib())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.peak_kib = self.rss_kib()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_payload(path: Path, size: int) -> str:
    """A file of incompressible bytes (8 MiB of random data repeated); returns its sha256."""
    block = os.urandom(8 * MiB)
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            part = block[: min(left, len(block))]
            f.write(part)
            digest.update(part)
            left -= len(part)
    return digest.hexdigest()


@dataclass
class Transfer:
    size: int
    seconds: float

    @property
    def bytes_per_s(self) -> float:
        return self.size / self.seconds

    @property
    def packets_per_s(self) -> float:
        return self.bytes_per_s / PACKET


async def timed_upload(
    address: ServerAddress, path: Path, source: str | None = None, sha256: str | None = None
) -> float:
    """Seconds from the first byte sent to `accepted` (stored, fsynced and, given the
    payload's `sha256`, checked by the server against it). The caller hashes the payload
    before: that pass is not the upload's."""
    # Plaintext MMP: these figures compare the wire path with iperf3; bench/crypto.py
    # measures what encryption (the vcs default, SPEC §6) costs on top.
    client = VcsClient(address, source_host=source, encrypt=False)
    params = {"sha256": sha256} if sha256 else {}
    start = time.perf_counter()
    answer = await client.upload("compress", path, params, verify=False)
    elapsed = time.perf_counter() - start
    assert answer["status"] == "accepted", answer
    # The job fails quickly (the payload is not media) and frees this client's slot.
    await wait_until_finished(client, str(answer["job_id"]))
    return elapsed


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


async def wait_until_finished(client: VcsClient, job_id: str) -> dict[str, object]:
    with trio.fail_after(120):
        while True:
            status = await client.status(job_id, wait_s=10)
            if status["state"] in ("done", "failed", "cancelled"):
                return status


async def timed_download(address: ServerAddress, job_id: str, into: Path) -> float:
    start = time.perf_counter()
    got = await VcsClient(address, encrypt=False).download(job_id, into)  # checks sha256
    elapsed = time.perf_counter() - start
    got.path.unlink()
    return elapsed


@contextlib.contextmanager
def running_server(storage: Path, *args: str) -> Iterator[ServerProcess]:
    # Many clients from one /24 at once: the per-network job cap would refuse them.
    server = ServerProcess(
        storage, ("--idle-timeout", "120", "--max-jobs-per-network", "0", *args)
    ).start()
    try:
        yield server
    finally:
        server.stop()


def single_upload(
    storage: Path, payload: Path, size: int, rounds: int = 1, verify: bool = True
) -> tuple[Transfer, int]:
    """The median of `rounds` uploads to one server (the first write of fresh pages is
    slower: it varies with what the kernel must reclaim, not with our code)."""
    with running_server(storage) as server:
        assert server.proc is not None
        sha = hash_file(payload) if verify else None
        with RssSampler(server.proc.pid) as rss:
            times = [
                trio.run(timed_upload, server.address, payload, None, sha) for _ in range(rounds)
            ]
        return Transfer(size, statistics.median(times)), rss.peak_kib


def single_download(
    storage: Path, payload: Path, sha: str, size: int, into: Path, rounds: int = 1
) -> Transfer:
    job_ids = [seed_finished_job(storage, payload, sha) for _ in range(rounds)]
    with running_server(storage) as server:
        times = [trio.run(timed_download, server.address, job_id, into) for job_id in job_ids]
        return Transfer(size, statistics.median(times))


def concurrent_uploads(
    storage: Path, payload: Path, size: int, count: int
) -> tuple[Transfer, list[float], int]:
    """`count` uploads at once, each from its own loopback address (one job per IP)."""
    sha = hash_file(payload)  # once, before the clock: the client's pass is not timed
    with running_server(storage) as server:
        assert server.proc is not None
        seconds: list[float] = [0.0] * count

        async def run_all() -> float:
            start = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for i in range(count):

                    async def one(i: int = i) -> None:
                        seconds[i] = await timed_upload(
                            server.address, payload, f"127.0.1.{i + 1}", sha
                        )

                    nursery.start_soon(one)
            return time.perf_counter() - start

        with RssSampler(server.proc.pid) as rss:
            wall = trio.run(run_all)
        return Transfer(size * count, wall), [size / s for s in seconds], rss.peak_kib


def idle_connections(storage: Path, clip: Path, count: int) -> tuple[float, bool]:
    """RSS cost per idle connection, and whether a real job still completes meanwhile."""
    with running_server(storage, "--max-connections", str(count + 100)) as server:
        assert server.proc is not None
        sampler = RssSampler(server.proc.pid)
        before = sampler.rss_kib()
        socks = []
        try:
            for i in range(count):
                s = socket.socket()
                s.bind((f"127.0.2.{1 + i % 250}", 0))
                s.connect((server.host, server.port))
                socks.append(s)
            time.sleep(1.0)
            after = sampler.rss_kib()

            async def one_job() -> bool:
                client = VcsClient(server.address, encrypt=False)
                answer = await client.upload("compress", clip)
                status = await wait_until_finished(client, str(answer["job_id"]))
                return status["state"] == "done"

            completed = trio.run(one_job)
        finally:
            for s in socks:
                s.close()
        return (after - before) * 1024 / count, completed


# ---------------------------------------------------------------- the run


def fmt_rate(bytes_per_s: float | None) -> str:
    if bytes_per_s is None:
        return "n/a"
    return f"{bytes_per_s / 1e6:,.0f} MB/s ({bytes_per_s / PACKET / 1e3:,.0f} k pkt/s)"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}×"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=2048, help="single upload size")
    parser.add_argument("--big-gib", type=int, default=4, help="upload size for the RSS test")
    parser.add_argument("--concurrent", type=int, default=32)
    parser.add_argument("--idle", type=int, default=2000, help="idle connections")
    parser.add_argument("--disk-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--rounds", type=int, default=3, help="single transfers: median of")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.size_mib, args.big_gib, args.concurrent, args.idle = 256, 1, 8, 200
    size = args.size_mib * MiB
    work = Path(tempfile.mkdtemp(prefix="vcs-bench-", dir=args.disk_dir))
    shm = Path(tempfile.mkdtemp(prefix="vcs-bench-", dir="/dev/shm"))
    rows: list[list[str]] = []
    try:
        print("references ...", file=sys.stderr)
        iperf_1400 = iperf3_bytes_per_s(["-l", "1400"], 5)
        iperf_mss = iperf3_bytes_per_s(["-M", "1412"], 5)
        dd_rate = dd_fsync_bytes_per_s(work, min(size, 1024 * MiB))
        limit = min(x for x in (iperf_mss, dd_rate) if x)
        payload = work / "payload.bin"
        sha = make_payload(payload, size)

        print("single upload to disk ...", file=sys.stderr)
        up_disk, _ = single_upload(work / "s1", payload, size, args.rounds)
        print("single download from disk ...", file=sys.stderr)
        down_disk = single_download(work / "s2", payload, sha, size, work, args.rounds)
        print("single upload to tmpfs ...", file=sys.stderr)
        shm_payload = shm / "payload.bin"
        shutil.copy(payload, shm_payload)
        up_shm, _ = single_upload(shm / "s3", shm_payload, size, args.rounds)
        up_shm_plain, _ = single_upload(shm / "s3b", shm_payload, size, args.rounds, False)
        down_shm = single_download(shm / "s4", shm_payload, sha, size, shm, args.rounds)
        shm_payload.unlink()

        print(f"{args.concurrent} concurrent uploads ...", file=sys.stderr)
        each = max(MiB, size // args.concurrent)
        small = work / "small.bin"
        make_payload(small, each)
        agg, per_conn, rss_conc = concurrent_uploads(work / "s5", small, each, args.concurrent)
        mean = sum(per_conn) / len(per_conn)

        print(f"{args.big_gib} GiB upload, memory ...", file=sys.stderr)
        big = work / "big.bin"
        make_payload(big, args.big_gib * 1024 * MiB)
        payload.unlink()
        big_up, rss_big = single_upload(work / "s6", big, big.stat().st_size)
        big.unlink()

        print(f"{args.idle} idle connections ...", file=sys.stderr)
        from tests.media_files import make_clip

        clip = make_clip(work / "clip.mp4", seconds=2, size="320x240")
        per_idle, job_ok = idle_connections(work / "s7", clip, args.idle)

        rows = [
            ["iperf3 -l 1400 (reference)", fmt_rate(iperf_1400), "", ""],
            ["iperf3 -M 1412 (reference)", fmt_rate(iperf_mss), "", ""],
            ["dd conv=fsync into storage dir (reference)", fmt_rate(dd_rate), "", ""],
            [
                "1. upload → disk, sha256-verified",
                fmt_rate(up_disk.bytes_per_s),
                f"{ratio(up_disk.bytes_per_s, iperf_1400)} iperf3 -l 1400; "
                f"{ratio(up_disk.bytes_per_s, limit)} L",
                "≥ 1.0× and ≥ 0.7× L",
            ],
            [
                "1. download ← disk, sha256-verified",
                fmt_rate(down_disk.bytes_per_s),
                f"{ratio(down_disk.bytes_per_s, iperf_1400)} iperf3 -l 1400; "
                f"{ratio(down_disk.bytes_per_s, limit)} L",
                "≥ 1.0× and ≥ 0.7× L",
            ],
            [
                "2. upload → tmpfs (network path), sha256-verified",
                fmt_rate(up_shm.bytes_per_s),
                f"{ratio(up_shm.bytes_per_s, iperf_1400)} iperf3 -l 1400",
                "≥ 2×",
            ],
            [
                "2. upload → tmpfs (network path), no sha256 asked",
                fmt_rate(up_shm_plain.bytes_per_s),
                f"{ratio(up_shm_plain.bytes_per_s, iperf_1400)} iperf3 -l 1400",
                "≥ 2×",
            ],
            [
                "2. download ← tmpfs (network path), sha256-verified",
                fmt_rate(down_shm.bytes_per_s),
                f"{ratio(down_shm.bytes_per_s, iperf_1400)} iperf3 -l 1400",
                "≥ 2×",
            ],
            [
                f"3. {args.concurrent} concurrent uploads → disk, aggregate",
                fmt_rate(agg.bytes_per_s),
                f"{ratio(agg.bytes_per_s, up_disk.bytes_per_s)} single; slowest "
                f"{ratio(min(per_conn), mean)} mean",
                "≥ 0.8× single; slowest ≥ 0.5× mean",
            ],
            [
                f"4. peak server RSS, {args.big_gib} GiB upload",
                f"{rss_big / 1024:.0f} MiB",
                f"at {fmt_rate(big_up.bytes_per_s)}",
                "≤ 100 MB",
            ],
            [
                f"4. peak server RSS, {args.concurrent} uploads",
                f"{rss_conc / 1024:.0f} MiB",
                "",
                "≤ 100 MB",
            ],
            [
                f"4. {args.idle} idle connections",
                f"{per_idle / 1024:.1f} KiB each",
                "a compress job completed meanwhile" if job_ok else "the job did NOT complete",
                "≤ 64 KB each",
            ],
        ]
        text = table(["measure", "figure", "ratio", "goal"], rows)
        print(text)
        if args.write:
            command = "python -m bench.net" + (" --quick" if args.quick else "")
            write_section(
                "net",
                "Network, disk and memory (issue 9)",
                stamp(command) + f"\nL = min(iperf3 -M 1412, dd) = {fmt_rate(limit)}. "
                f"Upload size {args.size_mib} MiB, single transfers the median of {args.rounds}; "
                f"concurrent uploads {each // MiB} MiB each "
                f"from {args.concurrent} loopback addresses.\n\n" + text,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
