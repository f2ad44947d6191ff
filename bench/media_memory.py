"""Memory of media work against the limits of app/media/limits.py (issue 14).

    python -m bench.media_memory            # GIF spans, encoder address space to 2160p
    python -m bench.media_memory --8k       # also 4320p (minutes on 2 cores, ~7 GB)

1. The gif op (two passes: palette, then streamed paletteuse) by span at its maximum
   rate and width, against the one-pass graph it replaced (split into palettegen and
   paletteuse, which holds every frame until the palette is ready). Peak resident
   memory from the kernel (ru_maxrss of each FFmpeg, via os.wait4).
2. Peak address space (VmPeak, what RLIMIT_AS limits) of an x264 encode, the encoder of
   resize/aspect/convert, by frame size, against the op's RLIMIT_AS. VmPeak is a
   high-water mark read from /proc while FFmpeg runs: the last read may miss the
   final moments (the trailer), which allocate little.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.media.argv import OutputSpec, Span, gif_argv, gif_palette_argv
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.geometry import Size
from app.media.limits import DEFAULT_LIMITS, MiB
from app.media.media_info import MediaInfo, VideoInfo
from app.protocol.ops.table import GIF_MAX_FPS as MAX_FPS
from app.protocol.ops.table import GIF_MAX_WIDTH_PX as MAX_WIDTH
from bench.report import stamp, table, write_section
from tests.media_files import make_clip

GIF_SPANS_S = (5.0, 15.0, 30.0, 60.0)
ONE_PASS_SPANS_S = (5.0, 15.0, 30.0)  # 60 s of it needs ~7 GB
FRAME_SIZES = {"720p": "1280x720", "1080p": "1920x1080", "2160p": "3840x2160"}


def peak_rss(argv: list[str]) -> tuple[int, float]:
    """(peak resident bytes, wall s) of one FFmpeg run, from the kernel."""
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(process.stderr.read().decode()[-500:] if process.stderr else "")
    return usage.ru_maxrss * 1024, time.monotonic() - started


def peak_address_space(argv: list[str]) -> int:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmPeak:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.05)
    if process.returncode != 0:
        raise RuntimeError(f"FFmpeg exited with {process.returncode}")
    return peak


def gif_rows(ffmpeg: str, clip: Path, work: Path) -> list[list[str]]:
    size = Size(MAX_WIDTH, MAX_WIDTH * 9 // 16)
    rows = []
    for span_s in GIF_SPANS_S:
        span = Span(0.0, span_s)
        palette, out = work / "palette.nut", work / "out.gif"
        first, t1 = peak_rss(gif_palette_argv(ffmpeg, clip, palette, span, size, MAX_FPS))
        argv = gif_argv(ffmpeg, clip, palette, OutputSpec(out, "gif"), span, size, MAX_FPS)
        second, t2 = peak_rss(argv)
        old = "—"
        if span_s in ONE_PASS_SPANS_S:
            graph = (
                f"[0:v:0]setpts=PTS-STARTPTS,fps={MAX_FPS:g},scale={size.width}:{size.height}"
                ":flags=lanczos,setsar=1,split[a][b];[a]palettegen=stats_mode=diff[p];"
                "[b][p]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle[gif]"
            )
            one_pass = [ffmpeg, "-nostdin", "-y", "-loglevel", "error", "-t", str(span_s)]
            one_pass += ["-i", str(clip), "-filter_complex", graph, "-map", "[gif]", str(out)]
            old_rss, old_s = peak_rss(one_pass)
            old = f"{old_rss / MiB:,.0f} MiB ({old_s:.0f} s)"
        rows.append(
            [
                f"{span_s:g} s",
                f"{first / MiB:,.0f} MiB ({t1:.0f} s)",
                f"{second / MiB:,.0f} MiB ({t2:.0f} s)",
                old,
            ]
        )
    return rows


def encoder_rows(ffmpeg: str, sizes: dict[str, str]) -> list[list[str]]:
    rows = []
    for name, dims in sizes.items():
        width, height = (int(n) for n in dims.split("x"))
        video = VideoInfo("h264", width, height, 30.0, None, None, None, None)
        bound = DEFAULT_LIMITS.ffmpeg_memory(MediaInfo("mov", 2.0, 0, None, video, None))
        argv = [ffmpeg, "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi"]
        argv += ["-i", f"testsrc2=s={dims}:r=30:d=2", "-c:v", "libx264", "-preset", "medium"]
        argv += ["-crf", "20", "-f", "null", "-"]
        peak = peak_address_space(argv)
        rows.append(
            [name, f"{peak / MiB:,.0f} MiB", f"{bound / MiB:,.0f} MiB", f"{peak / bound:.2f}"]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--8k", dest="eight_k", action="store_true", help="also 4320p")
    args = parser.parse_args()
    ffmpeg = find_ffmpeg()
    sizes = dict(FRAME_SIZES, **({"4320p": "7680x4320"} if args.eight_k else {}))
    with tempfile.TemporaryDirectory(prefix="vcs-bench-mem-") as tmp:
        work = Path(tmp)
        clip = make_clip(
            work / "clip.mp4",
            seconds=max(GIF_SPANS_S) + 1,
            size="1280x720",
            rate=30,
            audio=False,
            video_args=("-c:v", "libx264", "-preset", "ultrafast", "-crf", "30"),
        )
        gifs = gif_rows(ffmpeg, clip, work)
        encoders = encoder_rows(ffmpeg, sizes)
    body = stamp("python -m bench.media_memory" + (" --8k" if args.eight_k else ""))
    body += (
        f"\n**gif op at its maximum ({MAX_FPS:g} fps, {MAX_WIDTH} px wide), from a 720p30 "
        "H.264 clip**: peak resident memory of each FFmpeg run (and its wall time). The "
        "one-pass graph is the reference, measured in the same run.\n\n"
    )
    body += table(["span", "palette pass", "GIF pass", "one pass (before)"], gifs)
    body += (
        "\n**x264 preset medium, CRF 20, 2 s of testsrc2 at 30 fps**: peak address space "
        "(VmPeak) against the run's RLIMIT_AS (2 GiB + "
        f"{DEFAULT_LIMITS.ffmpeg_memory_per_pixel} bytes per pixel).\n\n"
    )
    body += table(["frame", "VmPeak", "RLIMIT_AS", "share"], encoders)
    print(body)
    print("wrote", write_section("media_memory", "Media memory and its limits (issue 14)", body))


if __name__ == "__main__":
    sys.exit(main())
