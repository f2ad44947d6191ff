"""Test media made by FFmpeg's own sources (lavfi testsrc2 + sine), once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

from app.media.ffmpeg_exe import find_ffmpeg


def make_clip(
    path: Path,
    *,
    seconds: float = 4,
    size: str = "640x360",
    rate: int = 25,
    audio: bool = True,
    video_args: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-qp", "12"),
    audio_args: tuple[str, ...] = ("-c:a", "aac", "-b:a", "128k"),
    extra: tuple[str, ...] = (),
) -> Path:
    """A testsrc2 clip (moving, detailed) with a sine tone; high quality unless told."""
    argv = [
        find_ffmpeg(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}:duration={seconds}",
    ]
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    argv += ["-pix_fmt", "yuv420p", *video_args]
    if audio:
        argv += [*audio_args, "-shortest"]
    argv += [*extra, str(path)]
    subprocess.run(argv, check=True, timeout=300)
    return path


def ffmpeg(*args: str) -> None:
    """Run the project's FFmpeg (quiet, overwriting) with `args`."""
    argv = [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(argv, check=True, timeout=300)


def with_rotation(source: Path, path: Path, degrees_counterclockwise: int) -> Path:
    """`source` with a display matrix, streams copied: how phones store portrait video
    (FFmpeg's -display_rotation 90 turns the picture a quarter turn counter-clockwise)."""
    ffmpeg(
        "-display_rotation",
        str(degrees_counterclockwise),
        "-i",
        str(source),
        "-c",
        "copy",
        str(path),
    )
    return path


def probe(path: Path) -> dict[str, object]:
    """What ffprobe would tell: container, duration, codecs, dimensions (via FFmpeg's libs)."""
    import av

    with av.open(str(path)) as container:
        out: dict[str, object] = {
            "format": container.format.name,
            "duration_s": (container.duration or 0) / 1_000_000,
        }
        for stream in container.streams:
            if stream.type == "video" and "video_codec" not in out:
                out["video_codec"] = stream.codec_context.name
                out["width"] = stream.codec_context.width
                out["height"] = stream.codec_context.height
                dar = stream.display_aspect_ratio
                out["dar"] = f"{dar.numerator}:{dar.denominator}" if dar else None
            elif stream.type == "audio" and "audio_codec" not in out:
                out["audio_codec"] = stream.codec_context.name
        return out


def decode_all_frames(path: Path) -> int:
    """Decode every video frame (a truncated or corrupt file raises); return the count."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
