"""FFmpeg argument lists: one pure function per op, from validated params and a probe."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.media.containers import (
    MP3,
    MP4_RULE,
    OPUS,
    VP9,
    X264,
    ContainerRule,
    StreamPlan,
    plan_streams,
)
from app.media.demuxers import own_input_args, upload_input_args
from app.media.geometry import AspectMode, AspectPlan, Size
from app.media.media_info import MediaInfo

# Always: no stdin, no banner, overwrite our own temp name, machine-readable progress.
COMMON_ARGS = ("-nostdin", "-hide_banner", "-y", "-loglevel", "error")
PROGRESS_ARGS = ("-progress", "pipe:1", "-nostats")


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Where FFmpeg writes, in which muxer; the temp path has no meaningful extension."""

    path: Path
    muxer: str


def _head(ffmpeg: str, src: Path, input_args: Sequence[str] = ()) -> list[str]:
    """The command up to the upload's `-i`, which is opened with the allowlist."""
    return [
        ffmpeg,
        *COMMON_ARGS,
        *PROGRESS_ARGS,
        *input_args,
        *upload_input_args(),
        "-i",
        str(src),
    ]


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


def limit_size(argv: list[str], limit_bytes: int) -> list[str]:
    """FFmpeg stops writing past `limit_bytes` (`-fs`); the caller checks the result's size."""
    return [*argv[:-1], "-fs", str(limit_bytes), argv[-1]]


@dataclass(frozen=True, slots=True)
class Span:
    """A time range of the input, in seconds (validated: 0 ≤ start < end ≤ duration)."""

    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def input_args(self) -> list[str]:
        # Seeking on the input is frame-exact when transcoding, and fast on long files.
        return ["-ss", f"{self.start_s:.3f}", "-t", f"{self.length_s:.3f}"]


def _stream_args(
    plans: Sequence[StreamPlan], rule: ContainerRule, video_filter: str | None
) -> list[str]:
    """`-map` and per-stream codec options; output specifiers count mapped streams per kind."""
    args: list[str] = []
    for plan in plans:
        args += ["-map", f"0:{plan.kind}:{plan.index}"]
    seen = {"v": 0, "a": 0}
    for plan in plans:
        spec = f"{plan.kind}:{seen[plan.kind]}"
        seen[plan.kind] += 1
        if plan.encoder is None:
            args += [f"-c:{spec}", "copy"]
            for codec, option, value in rule.copy_options:
                if codec == plan.codec:
                    args += [f"-{option}:{spec}", value]
            continue
        args += [f"-c:{spec}", plan.encoder.name]
        for option, value in plan.encoder.options:
            args += [f"-{option}:{spec}", value]
        chain = video_filter if plan.kind == "v" and video_filter else plan.encoder.video_filter
        if chain:
            args += [f"-filter:{spec}", chain]
    return args


def convert_argv(
    ffmpeg: str, src: Path, out: OutputSpec, plans: Sequence[StreamPlan], rule: ContainerRule
) -> list[str]:
    """Remux into `out.muxer`, encoding only the streams the plans say must be."""
    argv = _head(ffmpeg, src) + _stream_args(plans, rule, None)
    return [*argv, "-map_metadata", "0", *rule.extra_args, *_tail(out)]


def _mp4_with_video_filter(
    ffmpeg: str, src: Path, out: OutputSpec, info: MediaInfo, video_filter: str
) -> list[str]:
    """H.264 through `video_filter`; audio copied when MP4 holds it, else AAC."""
    plans = [
        dataclasses.replace(plan, encoder=X264) if plan.kind == "v" else plan
        for plan in plan_streams(MP4_RULE, info)
    ]
    argv = _head(ffmpeg, src) + _stream_args(plans, MP4_RULE, video_filter)
    return [*argv, "-map_metadata", "0", *MP4_RULE.extra_args, *_tail(out)]


def resize_argv(ffmpeg: str, src: Path, out: OutputSpec, info: MediaInfo, size: Size) -> list[str]:
    """Scale to exactly `size` with square pixels: the display shape is size's shape."""
    chain = f"scale={size.width}:{size.height}:flags=lanczos,setsar=1"
    return _mp4_with_video_filter(ffmpeg, src, out, info, chain)


def aspect_argv(
    ffmpeg: str, src: Path, out: OutputSpec, info: MediaInfo, plan: AspectPlan
) -> list[str]:
    """Pad, crop or stretch to `plan.out`, then state the display ratio exactly (setdar)."""
    filters = []
    if plan.square is not None:  # anamorphic input: square pixels first
        filters.append(f"scale={plan.square.width}:{plan.square.height},setsar=1")
    w, h = plan.out.width, plan.out.height
    # Offsets even, so 4:2:0 chroma lines up with luma.
    x = (abs(w - plan.source.width) // 2) & ~1
    y = (abs(h - plan.source.height) // 2) & ~1
    if plan.mode is AspectMode.PAD:
        filters.append(f"pad={w}:{h}:{x}:{y}:color=black")
    elif plan.mode is AspectMode.CROP:
        filters.append(f"crop={w}:{h}:{x}:{y}")
    else:
        filters.append(f"scale={w}:{h}")
    filters.append(f"setdar={plan.ratio.numerator}/{plan.ratio.denominator}")
    return _mp4_with_video_filter(ffmpeg, src, out, info, ",".join(filters))


def mp3_argv(
    ffmpeg: str, src: Path, out: OutputSpec, info: MediaInfo, bitrate_kbps: int | None
) -> list[str]:
    """The first audio stream as MP3: constant `bitrate_kbps`, else VBR quality 2 (~190k)."""
    argv = [*_head(ffmpeg, src), "-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", MP3.name]
    if bitrate_kbps is not None:
        argv += ["-b:a", f"{bitrate_kbps}k"]
    else:
        argv += [arg for option, value in MP3.options for arg in (f"-{option}:a", value)]
    if info.audio is not None and info.audio.channels > 2:
        argv += ["-ac", "2"]  # MP3 is mono or stereo
    return [*argv, "-map_metadata", "0", *_tail(out)]


# The palette is made from at most this many frames a second of the span: the colours
# of a clip change slowly, and the first pass then scales a third of a 30 fps GIF's frames.
PALETTE_FPS: Final = 10.0
PALETTE_MUXER: Final = "nut"  # one rawvideo RGBA frame, read back as is


def _gif_frames(size: Size, fps: float) -> str:
    """The span's frames (cut on the input side) as the GIF shows them: timestamps from
    0, its rate and size."""
    return (
        f"setpts=PTS-STARTPTS,fps={fps:g},scale={size.width}:{size.height}:flags=lanczos,setsar=1"
    )


def gif_palette_argv(
    ffmpeg: str, src: Path, palette: Path, span: Span, size: Size, fps: float
) -> list[str]:
    """First pass: a palette for the span's frames (palettegen keeps colour counts, not
    frames: memory does not grow with the span)."""
    chain = f"{_gif_frames(size, min(fps, PALETTE_FPS))},palettegen=stats_mode=diff"
    argv = _head(ffmpeg, src, span.input_args())
    argv += ["-map", "0:v:0", "-filter:v", chain, "-frames:v", "1", "-c:v", "rawvideo"]
    return [*argv, "-f", PALETTE_MUXER, str(palette)]


def gif_argv(
    ffmpeg: str, src: Path, palette: Path, out: OutputSpec, span: Span, size: Size, fps: float
) -> list[str]:
    """Second pass: the span as an animated GIF through the first pass's palette, frame
    by frame (paletteuse streams: one palette given, no frame waits for another)."""
    graph = (
        f"[0:v:0]{_gif_frames(size, fps)}[frames];"
        # Bayer dithering and per-rectangle updates keep files small.
        "[frames][1:v]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle[gif]"
    )
    argv = _head(ffmpeg, src, span.input_args())
    argv += [*own_input_args(PALETTE_MUXER), "-i", str(palette)]
    argv += ["-filter_complex", graph, "-map", "[gif]", "-c:v", "gif", "-loop", "0"]
    return argv + _tail(out)


def webm_argv(
    ffmpeg: str, src: Path, out: OutputSpec, info: MediaInfo, span: Span, size: Size
) -> list[str]:
    """`span` as VP9 + Opus (Opus only when the input has audio), both starting at 0."""
    argv = [*_head(ffmpeg, src, span.input_args()), "-map", "0:v:0"]
    scale = f"setpts=PTS-STARTPTS,scale={size.width}:{size.height}:flags=lanczos,setsar=1"
    argv += ["-filter:v", scale, "-c:v", VP9.name]
    argv += [arg for option, value in VP9.options for arg in (f"-{option}:v", value)]
    if info.audio is not None:
        argv += ["-map", "0:a:0", "-filter:a", "asetpts=PTS-STARTPTS", "-c:a", OPUS.name]
        argv += ["-b:a", "96k"]
        if info.audio.channels > 2:
            argv += ["-ac", "2"]
    return [*argv, "-map_metadata", "0", *_tail(out)]


def encoders_in(argv: Sequence[str]) -> list[str]:
    """The encoders an argument list asks for (`-c:...` values other than `copy`)."""
    return [
        value
        for option, value in itertools.pairwise(argv)
        if (option == "-c" or option.startswith("-c:")) and value != "copy"
    ]
