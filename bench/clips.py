"""Clips for bench/compress.py: lavfi-generated (cached), real ones (opencv-doc), the user's."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from app.media.ffmpeg_exe import find_ffmpeg

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
# Animation (Megamind), camera with noise (vtest, 80 s: the ≥ 60 s budget), small camera.
OPENCV_CLIPS = ("Megamind.avi", "vtest.avi", "tree.avi")


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    kind: str  # "generated", "real", "user"


# name → (lavfi source, seconds, encoder args): sources are near-lossless H.264, as a
# camera or an editor would hand over, except the one made to be already compressed.
GENERATED = {
    "mandelbrot-720p": (
        "mandelbrot=size=1280x720:rate=25:end_scale=0.002:end_pts=400",
        8,
        ("-c:v", "libx264", "-preset", "veryfast", "-crf", "8"),
    ),
    "grain-360p-64s": (
        "testsrc2=size=640x360:rate=25,noise=alls=12:allf=t+u",
        64,
        ("-c:v", "libx264", "-preset", "veryfast", "-crf", "10"),
    ),
    # Already compressed: AV1 at a low rate, which H.264 at VMAF 93 cannot beat.
    "precompressed-av1": (
        "testsrc2=size=640x360:rate=25",
        8,
        ("-c:v", "libsvtav1", "-preset", "8", "-crf", "45"),
    ),
}


def make_generated(cache: Path, name: str) -> Path:
    source, seconds, encoder = GENERATED[name]
    path = cache / f"{name}.mp4"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    subprocess.run(
        [
            find_ffmpeg(),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-t",
            str(seconds),
            "-pix_fmt",
            "yuv420p",
            *encoder,
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            str(tmp),
        ],
        check=True,
        timeout=600,
    )
    tmp.rename(path)
    return path


def default_clips(cache: Path) -> list[Clip]:
    clips = [Clip(name, make_generated(cache, name), "generated") for name in GENERATED]
    for name in OPENCV_CLIPS:
        path = OPENCV_DATA / name
        if path.exists():
            clips.append(Clip(name, path, "real"))
        else:
            print(
                f"note: {path} missing; for real footage: apt-get install opencv-doc",
                file=sys.stderr,
            )
    return clips


def user_clips(paths: list[Path]) -> list[Clip]:
    return [Clip(path.name, path, "user") for path in paths]
