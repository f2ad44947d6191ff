"""Chunked compress against the one-piece compress on a multi-scene clip (issue 19).

    .venv/bin/python -m bench.chunked_compress [--shots 4 8] [--size 640x360] [--write]

Each clip: `--shots` shots of 4.2 s (testsrc2, grainy bars, mandelbrot, cellauto, in
turn), variable frame rate, AAC and subtitles (tests/fidelity_media.py). Both paths run
in this process exactly as the server runs them, at the default target (VMAF 93):

- one piece: compress_file (search on samples, one encode);
- chunked: compress_chunked (scene pass, trials, allocation, side-by-side encodes).

For each: size, whole-file VMAF recomputed on every frame by FFmpeg (no code of ours),
wall and CPU time of its FFmpeg processes (run with rlimits only, so that their CPU
time reaches this process's RUSAGE_CHILDREN); for the chunked run also the cores busy
during its encode phase (its FFmpeg CPU time over wall × cores) and its CPU time over
one plain x264 encode of the whole clip at the chunks' frame-weighted mean CRF.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from app.media.compress.chunk_job import ChunkedRuns
from app.media.compress.chunked_pipeline import compress_chunked
from app.media.compress.pipeline import CompressOutcome, CompressRequest, compress_file
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.runner import Progress
from app.media.upload_probe import probe_upload
from bench.report import stamp, table, write_section
from tests.server.test_compress import vmaf_every_frame
from tests.support.fidelity_media import multi_scene_clip

TARGET_VMAF = 93.0


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def timed(
    run: Callable[[Callable[[Progress, str], None]], Awaitable[CompressOutcome]],
) -> tuple[CompressOutcome, dict[str, float]]:
    """The run's outcome, wall and CPU time, and its encode phase's share of the cores."""
    marks: dict[str, tuple[float, float]] = {}

    def on_progress(progress: Progress, phase: str) -> None:
        marks.setdefault(phase, (time.monotonic(), children_cpu_s()))

    wall, cpu = time.monotonic(), children_cpu_s()
    outcome = await run(on_progress)
    figures = {"wall_s": time.monotonic() - wall, "cpu_s": children_cpu_s() - cpu}
    if "encoding" in marks and "joining" in marks:
        (w0, c0), (w1, c1) = marks["encoding"], marks["joining"]
        figures["encode_busy"] = (c1 - c0) / max(1e-9, (w1 - w0) * (os.cpu_count() or 1))
    return outcome, figures


def plain_encode_cpu_s(ffmpeg: str, src: Path, crf: float, out: Path) -> float:
    before = children_cpu_s()
    subprocess.run(
        [
            *(ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-map", "0:v:0"),
            *("-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "medium"),
            *("-crf", f"{crf:.1f}", "-an", str(out)),
        ],
        check=True,
        timeout=3600,
    )
    return children_cpu_s() - before


def video_vmaf_at(ffmpeg: str, src: Path, crf: float, work: Path) -> tuple[int, float]:
    """One x264 encode of the whole video at `crf` (the op's preset, every frame kept):
    its size and its VMAF on every frame."""
    out = work / "single.mkv"
    subprocess.run(
        [
            *(ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-map", "0:v:0"),
            *("-fps_mode", "passthrough", "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2"),
            *("-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "medium"),
            *("-crf", f"{crf:.2f}", "-an", str(out)),
        ],
        check=True,
        timeout=3600,
    )
    return out.stat().st_size, vmaf_every_frame(out, src, work / "single-vmaf.json")


def single_crf_at_vmaf(ffmpeg: str, src: Path, goal: float, work: Path) -> dict[str, float]:
    """The largest CRF (0.25 steps, by bisection over 14..40) of one encode of the whole
    video whose VMAF is at least `goal`: today's one-CRF answer at equal quality."""
    low, high = 14.0, 40.0  # VMAF(low) >= goal is assumed; high is tried
    best: tuple[float, int, float] | None = None
    while high - low > 0.25:
        crf = round((low + high) / 2 * 4) / 4
        size, vmaf = video_vmaf_at(ffmpeg, src, crf, work)
        if vmaf >= goal:
            best, low = (crf, size, vmaf), crf
        else:
            high = crf
    if best is None:
        size, vmaf = video_vmaf_at(ffmpeg, src, low, work)
        best = (low, size, vmaf)
    return {"crf": best[0], "size": best[1], "vmaf": best[2]}


async def bench(args: argparse.Namespace, work: Path, shots: int) -> dict[str, Any]:
    ffmpeg = find_ffmpeg()
    src = work / "shots.mkv"
    multi_scene_clip(src, shots=shots, size=args.size)
    info = await probe_upload(src)
    rows: dict[str, Any] = {"duration_s": info.duration_s, "input": info.size_bytes}
    for name in ("one piece", "chunked"):
        out = work / f"{name.replace(' ', '-')}.out"
        request = CompressRequest(ffmpeg, src, info, None, TARGET_VMAF, out, info.size_bytes)
        counters = ChunkedRuns()
        if name == "chunked":
            shutil.rmtree(work / "chunks", ignore_errors=True)

            async def run(
                report: Any, r: CompressRequest = request, c: ChunkedRuns = counters
            ) -> CompressOutcome:
                return await compress_chunked(r, work / "chunks", report, counters=c)
        else:

            async def run(report: Any, r: CompressRequest = request) -> CompressOutcome:
                return await compress_file(r, report)

        outcome, figures = await timed(run)
        figures["size"] = out.stat().st_size if outcome.media_type else info.size_bytes
        figures["vmaf"] = vmaf_every_frame(out, src, work / "vmaf.json")
        figures["reported_vmaf"] = outcome.report.get("vmaf")
        if name == "chunked":
            chunks = outcome.report["chunks"]
            mean_crf = sum(c["crf"] * c["frames"] for c in chunks) / sum(
                c["frames"] for c in chunks
            )
            figures["plain_cpu_s"] = plain_encode_cpu_s(ffmpeg, src, mean_crf, work / "plain.mp4")
            figures["chunks"] = len(chunks)
            figures["spread"] = outcome.report["chunk_spread"]
            figures["video_bytes"] = sum(c["bytes"] for c in chunks)
            figures["single"] = single_crf_at_vmaf(ffmpeg, src, figures["vmaf"], work)
        else:
            figures["crf"] = outcome.report.get("crf")
        rows[name] = figures
    return rows


def render(runs: list[dict[str, Any]], command: str) -> str:
    lines = [stamp(command), ""]
    summary = []
    for rows in runs:
        lines += render_clip(rows)
        chunked = rows["chunked"]
        single = chunked["single"]
        summary.append(
            [
                f"{rows['duration_s']:.1f} s",
                str(chunked["chunks"]),
                f"{chunked['video_bytes'] / single['size']:.3f}",
                f"{chunked['vmaf']:.2f} / {single['vmaf']:.2f}",
                f"{chunked['size'] / rows['one piece']['size']:.3f}",
                f"{chunked['cpu_s'] / max(1e-9, rows['one piece']['cpu_s']):.2f}x",
                f"{chunked['cpu_s'] / chunked['plain_cpu_s']:.2f}x",
            ]
        )
    lines += [
        "Summary (where chunking starts to pay: `CHUNKED_FROM_S`):",
        "",
        table(
            [
                "clip",
                "chunks",
                "chunk video / one CRF at equal VMAF",
                "VMAF chunked / one CRF",
                "chunked / one-piece op (size)",
                "CPU chunked / one-piece op",
                "CPU chunked / one plain encode",
            ],
            summary,
        ),
    ]
    return "\n".join(lines) + "\n"


def render_clip(rows: dict[str, Any]) -> list[str]:
    one, chunked = rows["one piece"], rows["chunked"]
    cells = []
    for name, f in (("one piece", one), ("chunked", chunked)):
        cells.append(
            [
                name,
                f"{f['size'] / 1e6:.2f} MB",
                f"{f['vmaf']:.2f}",
                f"{f['vmaf'] - TARGET_VMAF:+.2f}",
                f"{f['wall_s']:.0f} s",
                f"{f['cpu_s']:.0f} s",
                f"{f.get('encode_busy', 0) * 100:.0f} %" if "encode_busy" in f else "",
            ]
        )
    spread = chunked["spread"]
    single = chunked["single"]
    return [
        f"Clip: {rows['duration_s']:.1f} s, {chunked['chunks']} chunks, input "
        f"{rows['input'] / 1e6:.2f} MB; target VMAF {TARGET_VMAF:g}.",
        "",
        table(
            [
                "path",
                "size",
                "VMAF (every frame)",
                "vs target",
                "wall",
                "FFmpeg CPU",
                "encode busy",
            ],
            cells,
        ),
        "",
        f"- chunked size / one-piece size: {chunked['size'] / one['size']:.3f} "
        f"(VMAF {chunked['vmaf']:.2f} vs {one['vmaf']:.2f})",
        f"- chunked CPU / one plain encode of the clip at the chunks' mean CRF: "
        f"{chunked['cpu_s'] / chunked['plain_cpu_s']:.2f}x ({chunked['plain_cpu_s']:.0f} s)",
        f"- chunk spread: CRF {spread['crf_min']}–{spread['crf_max']}, "
        f"VMAF {spread.get('vmaf_min')}–{spread.get('vmaf_max')}",
        f"- one CRF for the whole video at the chunked result's VMAF: CRF {single['crf']:g}, "
        f"video {single['size'] / 1e6:.2f} MB (VMAF {single['vmaf']:.2f}) against the "
        f"chunks' {chunked['video_bytes'] / 1e6:.2f} MB: "
        f"{(chunked['video_bytes'] / single['size'] - 1) * 100:+.1f} %",
        "",
    ]


def main() -> int:
    # FFmpeg as a direct child (rlimits, no bubblewrap): its CPU time is then counted in
    # RUSAGE_CHILDREN (through bubblewrap's pid namespace it is not).
    os.environ["VCS_MEDIA_SANDBOX"] = "rlimits"
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shots", type=int, nargs="+", default=[4, 8], help="clips of N shots of 4.2 s each"
    )
    parser.add_argument("--size", default="640x360", help="picture size (default 640x360)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-chunked-") as tmp:
        runs = [trio.run(bench, args, Path(tmp), shots) for shots in args.shots]
    command = "python -m bench.chunked_compress " + " ".join(sys.argv[1:])
    text = render(runs, command.strip())
    print(text)
    if args.write:
        write_section("chunked_compress", "Chunked compress (issue 19)", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
