"""What the service adds to FFmpeg's own time, and the CPU share FFmpeg keeps under uploads.

    .venv/bin/python -m bench.processing [--rounds 3] [--ops resize,convert,webm,audio]
                                         [--window-s 10] [--quick] [--write]

Issue 9 goal 5: a job's wall time through vcs-serve against the very FFmpeg command the
server ran (its argv read from /proc/<pid>/cmdline while it runs, the paths swapped for
local ones), run directly with the same binary; service and direct runs alternate, and
the table gives medians. Goal 6: while a long transcode runs, bounded uploads from other
loopback addresses stream in for a fixed window; CPU times per process come from
/proc/<pid>/stat and the machine's from /proc/stat. Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import trio

from app.client.address import ServerAddress
from app.client.api import VcsClient
from bench.report import stamp, table, write_section
from tests.support.media_files import make_clip
from tests.support.server_process import ServerProcess

PACKET = 1400
MiB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")

# op → the request's parameters. Each runs one fixed FFmpeg argv (compress searches CRFs:
# bench/compress.py measures it). `convert` to AVI copies the H.264 video and re-encodes
# the AAC track to MP3: a short job, where the service's fixed costs weigh the most.
OPS: dict[str, dict[str, object]] = {
    "resize": {"preset": "480p"},
    "convert": {"format": "avi"},
    "webm": {"start": 0, "end": 30},
    "audio": {},
}


# How to read the tables; the reasons were found with this script (2026-11-25), not assumed.
READING = """Where the service's time goes around FFmpeg (tens of ms a job, whatever its
length): the PyAV probe (5–10 ms), the encoder check (cached at start-up), then the
result's sha256 (~1 ms per MB) at the same time as its fsync and rename. FFmpeg itself
runs the same argv with the same threads in both cases: its CPU time through the service
matches the direct run's. Wall ratios of sub-second ops (convert by stream copy, audio)
are tens of ms against a noisy scheduler; their CPU ratio is the steadier figure. In goal
6 the server's share is almost all worker threads (splicing, hashing, fsync of uploads),
and the machine's share counts other people's processes: read FFmpeg against our own.
"""


# ---------------------------------------------------------------- clips


def cached_clip(cache: Path, seconds: int, size: str) -> Path:
    """A testsrc2 + sine H.264/AAC clip, as a camera would hand it over (made once)."""
    path = cache / f"testsrc2-{size}-{seconds}s.mp4"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        args = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", "50")
        make_clip(tmp, seconds=seconds, size=size, rate=30, video_args=args)
        tmp.rename(path)
    return path


# ---------------------------------------------------------------- /proc


def cpu_ticks(pid: int | str) -> int:
    """utime + stime of a process (all its threads), in clock ticks."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def machine_busy_ticks() -> int:
    """All CPUs' time not idle and not waiting for I/O, from /proc/stat, in ticks."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return user + nice + system + irq + softirq + steal


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


@dataclass
class ChildRun:
    argv: list[str]
    first_seen: float
    last_seen: float

    @property
    def seconds(self) -> float:
        return self.last_seen - self.first_seen


class ChildWatcher:
    """Every child the server starts: its argv and when it was seen running (every 10 ms)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.runs: dict[int, ChildRun] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.perf_counter()
            for pid in children_of(self.server_pid):
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    if pid not in self.runs:
                        self.runs[pid] = ChildRun(cmdline(pid), now, now)
                    run = self.runs[pid]
                    run.last_seen = now
                    if "-progress" not in run.argv:  # seen between fork and exec
                        run.argv = cmdline(pid)
            time.sleep(0.01)

    def transcodes(self) -> list[ChildRun]:
        """FFmpeg runs of jobs (capability queries carry no `-progress`)."""
        return [run for run in self.runs.values() if "-progress" in run.argv]

    def __enter__(self) -> ChildWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- goal 5


@contextlib.contextmanager
def running_server(storage: Path, *args: str) -> Iterator[ServerProcess]:
    server = ServerProcess(storage, ("--idle-timeout", "300", *args)).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class ServiceRun:
    job_s: float  # the server's own record: accepted (created_at) → done (finished_at)
    polled_s: float  # the client's view: `accepted` received → long-poll says done
    ffmpeg_s: float  # the job's FFmpeg process, seen running from outside
    argv: list[str]
    input_path: str
    server_cpu_s: float  # vcs-serve's own CPU from accepted to done (all its threads)
    ffmpeg_cpu_s: float  # the CPU of the children it reaped meanwhile: the job's FFmpeg


async def wait_done(client: VcsClient, job_id: str, limit_s: float) -> dict[str, object]:
    with trio.fail_after(limit_s):
        while True:
            status = await client.status(job_id, wait_s=30)
            if status["state"] in ("done", "failed", "cancelled"):
                return status


def server_cpu_s(pid: int) -> tuple[float, float]:
    """(the server's own CPU seconds, its reaped children's: FFmpeg's) from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    own = int(fields[11]) + int(fields[12])  # utime, stime
    children = int(fields[13]) + int(fields[14])  # cutime, cstime
    return own / CLK_TCK, children / CLK_TCK


def service_run(
    server: ServerProcess, watcher: ChildWatcher, clip: Path, op: str, limit_s: float
) -> ServiceRun:
    assert server.proc is not None
    pid = server.proc.pid
    cpu: list[tuple[float, float]] = []

    async def go() -> tuple[str, float]:
        client = VcsClient(server.address, encrypt=False)
        answer = await client.upload(op, clip, dict(OPS[op]), verify=False)
        accepted = time.perf_counter()
        cpu.append(server_cpu_s(pid))
        status = await wait_done(client, str(answer["job_id"]), limit_s)
        polled = time.perf_counter() - accepted
        cpu.append(server_cpu_s(pid))
        assert status["state"] == "done", status
        return str(answer["job_id"]), polled

    before = set(watcher.runs)
    job_id, polled = trio.run(go)
    record = json.loads((server.storage_dir / "jobs" / f"{job_id}.json").read_text())
    runs = [
        run for pid, run in watcher.runs.items() if pid not in before and "-progress" in run.argv
    ]
    assert len(runs) == 1, f"expected one FFmpeg run for the job, saw {len(runs)}"
    return ServiceRun(
        job_s=float(record["finished_at"]) - float(record["created_at"]),
        polled_s=polled,
        ffmpeg_s=runs[0].seconds,
        argv=runs[0].argv,
        input_path=str(record["input_path"]),
        server_cpu_s=cpu[1][0] - cpu[0][0],
        ffmpeg_cpu_s=cpu[1][1] - cpu[0][1],
    )


def direct_argv(service: ServiceRun, clip: Path, out: Path) -> list[str]:
    """The server's argv with its input and output swapped for local paths (same fs)."""
    argv = [str(clip) if arg == service.input_path else arg for arg in service.argv]
    assert str(clip) in argv, "the server's input path is not in its argv"
    return [*argv[:-1], str(out)]  # the output is always last (app.media.argv._tail)


@dataclass
class DirectRun:
    wall_s: float
    cpu_s: float


def direct_run(argv: list[str], limit_s: float) -> DirectRun:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, timeout=limit_s, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(argv[-1]).unlink()
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return DirectRun(elapsed, cpu)


@dataclass
class OpFigures:
    op: str
    direct: list[DirectRun] = field(default_factory=list)
    service: list[ServiceRun] = field(default_factory=list)


def overhead(work: Path, clip: Path, ops: list[str], rounds: int) -> list[OpFigures]:
    """Per op: service and direct runs in pairs, alternating who goes first. Ops whose
    FFmpeg takes under 2 s get three times the pairs: their ratio is all small numbers."""
    figures = [OpFigures(op) for op in ops]
    out = work / "direct.out"
    with running_server(work / "store", "--job-timeout", "1800") as server:
        assert server.proc is not None
        with ChildWatcher(server.proc.pid) as watcher:
            for fig in figures:
                i, pairs = 0, rounds
                while i < pairs:  # bounded: pairs is at most 3 * rounds
                    print(f"  {fig.op} pair {i + 1} ...", file=sys.stderr)
                    if i % 2 == 0:
                        fig.service.append(service_run(server, watcher, clip, fig.op, 900))
                        fig.direct.append(direct_run(direct_argv(fig.service[0], clip, out), 900))
                    else:
                        fig.direct.append(direct_run(direct_argv(fig.service[0], clip, out), 900))
                        fig.service.append(service_run(server, watcher, clip, fig.op, 900))
                    if i == 0 and fig.direct[0].wall_s < 2.0:
                        pairs = 3 * rounds
                    i += 1
    return figures


# ---------------------------------------------------------------- goal 6


@dataclass
class Window:
    seconds: float
    uploaded_bytes: int
    uploads: int
    slowest_bytes_per_s: float
    ffmpeg_ticks: int = 0
    server_ticks: int = 0
    server_trio_ticks: int = 0
    client_ticks: int = 0
    machine_ticks: int = 0
    ffmpeg_ran_throughout: bool = True

    @property
    def packets_per_s(self) -> float:
        return self.uploaded_bytes / self.seconds / PACKET


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


async def upload_for(
    address: ServerAddress, payload: Path, sha: str, window_s: float, first_ip: int
) -> tuple[int, int, float]:
    """Uploads one after the other, each from its own loopback address (docs/operations.md:
    one job per IP), until `window_s` has passed; each job is cancelled once accepted (it
    would queue behind the transcode), which deletes its input. (bytes, count, slowest rate)."""
    size = payload.stat().st_size
    deadline = time.perf_counter() + window_s
    count, slowest = 0, float("inf")
    while time.perf_counter() < deadline and count < 250:
        client = VcsClient(address, source_host=f"127.0.{first_ip}.{2 + count}", encrypt=False)
        start = time.perf_counter()
        answer = await client.upload("audio", payload, {"sha256": sha}, verify=False)
        slowest = min(slowest, size / (time.perf_counter() - start))
        await client.cancel(str(answer["job_id"]))
        count += 1
    return size * count, count, slowest


def upload_window(
    server: ServerProcess, payload: Path, sha: str, window_s: float, ffmpeg_pid: int | None
) -> Window:
    assert server.proc is not None
    pid = server.proc.pid
    ticks = lambda: (  # noqa: E731
        cpu_ticks(ffmpeg_pid) if ffmpeg_pid else 0,
        cpu_ticks(pid),
        cpu_ticks(f"{pid}/task/{pid}"),  # the trio thread; the rest are worker threads
        cpu_ticks("self"),
        machine_busy_ticks(),
    )
    before = ticks()
    start = time.perf_counter()
    sent, count, slowest = trio.run(upload_for, server.address, payload, sha, window_s, 0)
    seconds = time.perf_counter() - start
    try:
        after = ticks()
        alive = True
    except OSError:  # FFmpeg ended inside the window: its share would be undercounted
        after, alive = (0, *ticks()[1:]), False
    window = Window(seconds, sent, count, slowest)
    (
        window.ffmpeg_ticks,
        window.server_ticks,
        window.server_trio_ticks,
        window.client_ticks,
        window.machine_ticks,
    ) = (a - b for a, b in zip(after, before, strict=True))
    window.ffmpeg_ran_throughout = alive
    return window


def contention(
    work: Path, clip: Path, payload: Path, window_s: float, windows: int
) -> tuple[Window, list[Window]]:
    """An upload window without a transcode, then `windows` of them while one runs
    (resize to 720p)."""
    sha = sha256_of(payload)
    with running_server(work / "store6", "--job-timeout", "1800") as server:
        assert server.proc is not None
        print("  uploads alone ...", file=sys.stderr)
        alone = upload_window(server, payload, sha, window_s, None)

        async def start_job() -> str:
            client = VcsClient(server.address, source_host="127.0.0.1", encrypt=False)
            answer = await client.upload("resize", clip, {"preset": "720p"}, verify=False)
            return str(answer["job_id"])

        job_id = trio.run(start_job)
        deadline = time.monotonic() + 60
        pid = None
        while pid is None and time.monotonic() < deadline:
            pid = next((p for p in children_of(server.proc.pid) if "-progress" in cmdline(p)), None)
            time.sleep(0.05)
        assert pid is not None, "the transcode never started"
        time.sleep(2.0)  # past FFmpeg's start-up: the window sees it encoding
        during = []
        for i in range(windows):
            print(f"  uploads during the transcode {i + 1}/{windows} ...", file=sys.stderr)
            during.append(upload_window(server, payload, sha, window_s, pid))
            if not during[-1].ffmpeg_ran_throughout:
                break

        async def cancel_job() -> None:
            await VcsClient(server.address, source_host="127.0.0.1", encrypt=False).cancel(job_id)

        trio.run(cancel_job)
    return alone, during


# ---------------------------------------------------------------- the run


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def overhead_rows(figures: list[OpFigures]) -> list[list[str]]:
    med = statistics.median
    rows = []
    for fig in figures:
        walls = [run.wall_s for run in fig.direct]
        jobs = [run.job_s for run in fig.service]
        direct, job = med(walls), med(jobs)
        polled = med(run.polled_s for run in fig.service)
        around = med(run.job_s - run.ffmpeg_s for run in fig.service)
        direct_cpu = med(run.cpu_s for run in fig.direct)
        ffmpeg_cpu = med(run.ffmpeg_cpu_s for run in fig.service)
        server_cpu = med(run.server_cpu_s for run in fig.service)
        rows.append(
            [
                f"{fig.op} ×{len(fig.direct)}",
                spread(walls),
                spread(jobs),
                f"{around * 1000:.0f} ms",
                f"**{job / direct:.2f}×** ({polled / direct:.2f}×)",
                f"{min(jobs) / min(walls):.2f}×",
                f"{direct_cpu:.2f} s",
                f"{ffmpeg_cpu:.2f} s + {server_cpu * 1000:.0f} ms",
                f"**{(ffmpeg_cpu + server_cpu) / direct_cpu:.2f}×**",
            ]
        )
    return rows


def contention_rows(alone: Window, windows: list[Window]) -> list[list[str]]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    shares = [w.ffmpeg_ticks / w.machine_ticks for w in windows]
    ours = [w.ffmpeg_ticks / (w.ffmpeg_ticks + w.server_ticks + w.client_ticks) for w in windows]
    server = median([w.server_ticks / w.machine_ticks for w in windows])
    trio_part = median([w.server_trio_ticks / w.server_ticks for w in windows if w.server_ticks])
    clients = median([w.client_ticks / w.machine_ticks for w in windows])
    foreign = median(
        [1 - (w.ffmpeg_ticks + w.server_ticks + w.client_ticks) / w.machine_ticks for w in windows]
    )
    rates = [w.packets_per_s for w in windows]
    cores = median([w.ffmpeg_ticks / CLK_TCK / w.seconds for w in windows])
    ended = not all(w.ffmpeg_ran_throughout for w in windows)
    return [
        [
            "uploads alone (reference)",
            f"{alone.packets_per_s / 1e3:,.0f} k pkt/s ({alone.uploads} uploads)",
            f"server {share(alone.server_ticks, alone.machine_ticks)}, "
            f"clients {share(alone.client_ticks, alone.machine_ticks)} of machine",
            "",
        ],
        [
            "uploads during a transcode",
            f"{median(rates) / 1e3:,.0f} k pkt/s (lowest window {min(rates) / 1e3:,.0f} k; "
            f"slowest upload {min(w.slowest_bytes_per_s for w in windows) / PACKET / 1e3:,.0f} k)",
            f"{median(rates) / alone.packets_per_s:.2f}× alone; "
            f"{sum(w.uploads for w in windows)} uploads",
            "≥ 20 k pkt/s",
        ],
        [
            "FFmpeg's share of the machine's CPU time",
            f"{median(shares):.0%} (lowest {min(shares):.0%})",
            f"server {server:.0%} ({trio_part:.0%} of it in the trio thread, the rest in "
            f"worker threads), clients {clients:.0%}, other people's processes {foreign:.0%}",
            "≥ 60%",
        ],
        [
            "FFmpeg's share of our processes' CPU time",
            f"{median(ours):.0%} (lowest {min(ours):.0%})",
            f"FFmpeg {cores:.2f} cores, {len(windows)} windows of "
            f"{median([w.seconds for w in windows]):.1f} s"
            + (" (FFmpeg ended early!)" if ended else ""),
            "≥ 60%",
        ],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="service/direct pairs per op")
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated ops of goal 5")
    parser.add_argument("--window-s", type=float, default=8.0, help="goal 6 upload window")
    parser.add_argument("--windows", type=int, default=3, help="goal 6 windows in one transcode")
    parser.add_argument("--upload-mib", type=int, default=256, help="goal 6: size of each upload")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-contention", action="store_true")
    parser.add_argument("--quick", action="store_true", help="short clips, one round")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "vcs-bench-clips"
    )
    args = parser.parse_args()
    ops = [op for op in args.ops.split(",") if op]
    unknown = set(ops) - OPS.keys()
    if unknown:
        parser.error(f"unknown ops: {', '.join(sorted(unknown))}")
    seconds5, seconds6 = (6, 20) if args.quick else (30, 60)
    if args.quick:
        args.rounds, args.window_s, args.windows = 1, 4.0, 1
    work = Path(tempfile.mkdtemp(prefix="vcs-bench-proc-"))
    parts: list[str] = []
    try:
        if not args.skip_overhead:
            print("goal 5: processing overhead ...", file=sys.stderr)
            clip = cached_clip(args.cache, seconds5, "1280x720")
            OPS["webm"]["end"] = seconds5
            figures = overhead(work, clip, ops, args.rounds)
            text = table(
                [
                    "op ×pairs",
                    "wall: FFmpeg direct, median (min–max)",
                    "wall: job via service",
                    "job time around its FFmpeg",
                    "wall ratio of medians (client's view)",
                    "wall ratio of minima",
                    "CPU: FFmpeg direct",
                    "CPU: FFmpeg in service + vcs-serve",
                    "CPU ratio",
                ],
                overhead_rows(figures),
            )
            print(text)
            parts.append(
                f"Goal 5: {seconds5} s 1280x720 30 fps clip (testsrc2 + sine, H.264 veryfast "
                f"CRF 18 + AAC); {args.rounds} pairs of a service run and a direct run per op, "
                "alternating which goes first (ops under 2 s get three times the pairs). "
                "*Job via service* is the server's own job record, accepted (`created_at`) → "
                "done (`finished_at`, after the result's sha256); the client's view, "
                "`accepted` received → a long-poll `status` says done, is in brackets. "
                "*Direct* runs the argv the server's FFmpeg ran (read from /proc) with the same "
                "binary, input and output swapped for files on the same filesystem. *Around "
                "its FFmpeg*: job time minus the lifetime of its FFmpeg process (probe, "
                "capability checks, hashing and committing the result). Goal: wall ratio ≤ "
                "1.10×. Other people's processes share this machine and stretch any run by "
                "seconds, so the wall ratio of the fastest runs is given too, and the CPU "
                "ratio, which load hardly moves: the job's FFmpeg (the server's reaped "
                "children, /proc/<pid>/stat cutime + cstime) plus vcs-serve's own CPU from "
                "accepted to done, against the direct FFmpeg's (getrusage).\n\n" + text
            )
        if not args.skip_contention:
            print("goal 6: FFmpeg's CPU share under uploads ...", file=sys.stderr)
            clip6 = cached_clip(args.cache, seconds6, "1920x1080")
            payload = work / "upload.bin"
            with payload.open("wb") as f:
                block = os.urandom(8 * MiB)
                for _ in range(max(1, args.upload_mib // 8)):
                    f.write(block)
            alone, during = contention(work, clip6, payload, args.window_s, args.windows)
            text = table(["measure", "figure", "detail", "goal"], contention_rows(alone, during))
            print(text)
            parts.append(
                f"Goal 6: `resize` to 720p of a {seconds6} s 1920x1080 clip runs; in "
                f"{args.windows} windows of {args.window_s:.0f} s, {args.upload_mib} MiB "
                "uploads (plaintext, sha256 verified by the server, stored with fsync, then "
                "the queued job cancelled) follow one another, each from its own loopback "
                "address; the same window without the transcode is the reference; medians "
                "over the windows. CPU times: utime + stime from /proc/<pid>/stat of the "
                "transcode's FFmpeg, vcs-serve (all threads) and the "
                "bench process (the clients); the machine's busy time from /proc/stat, which "
                "on this shared machine includes other people's processes.\n\n" + text
            )
        if args.write and parts:
            parts.append("\n" + READING)
            command = "python -m bench.processing" + (" --quick" if args.quick else "")
            if not args.quick and args.rounds != 3:
                command += f" --rounds {args.rounds}"
            write_section(
                "processing",
                "Processing overhead and FFmpeg's CPU share (issue 9 goals 5, 6)",
                stamp(command) + "\n" + "\n".join(parts),
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
