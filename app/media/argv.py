"""FFmpeg argument lists: one pure function per op, from validated params and a probe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.media.probe import MediaInfo

# Always: no stdin, no banner, overwrite our own temp name, machine-readable progress.
COMMON_ARGS = ("-nostdin", "-hide_banner", "-y", "-loglevel", "error")
PROGRESS_ARGS = ("-progress", "pipe:1", "-nostats")


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Where FFmpeg writes, in which muxer; the temp path has no meaningful extension."""

    path: Path
    muxer: str


def _head(ffmpeg: str, src: Path) -> list[str]:
    return [ffmpeg, *COMMON_ARGS, *PROGRESS_ARGS, "-i", str(src)]


def _tail(out: OutputSpec) -> list[str]:
    return ["-f", out.muxer, str(out.path)]


def h264_aac_mp4_argv(
    ffmpeg: str, src: Path, out: OutputSpec, info: MediaInfo, crf: int, preset: str
) -> list[str]:
    """A playable H.264/AAC MP4: first video and audio stream, yuv420p, faststart."""
    argv = _head(ffmpeg, src)
    argv += ["-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn"]
    argv += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf)]
    # Even dimensions and 4:2:0 for players that accept nothing else.
    argv += ["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-pix_fmt", "yuv420p"]
    if info.audio is not None:
        argv += ["-c:a", "aac", "-b:a", "128k"]
    argv += ["-movflags", "+faststart", "-map_metadata", "0"]
    return argv + _tail(out)
