"""FFmpeg argument lists: one pure function per op, from validated params and a probe."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.media.containers import MP3, ContainerRule
from app.media.demuxers import own_input_args, upload_input_args
from app.media.geometry import AspectMode, AspectPlan, Size
from app.media.stream_plan import Fate, StreamPlan
from app.media.video_treatment import VideoTreatment, params_args

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


# Encoders that take at most two channels here: more are folded to stereo.
STEREO_ONLY: Final = frozenset({"libmp3lame", "libopus"})


def stream_args(
    plan: StreamPlan,
    rule: ContainerRule,
    treatment: VideoTreatment | None = None,
    video_chain: str = "",
    audio_chain: str = "",
    *,
    video_codec_args: bool = True,
) -> list[str]:
    """`-map` for every kept stream, then its codec options, by output index (`-c:3`).

    An encoded video runs `treatment`'s tone map (if any) then `video_chain` (or the
    encoder's own filter); encoded audio runs `audio_chain`. `video_codec_args` False:
    the caller gives the video's codec options itself."""
    kept = plan.kept
    args = [arg for d in kept for arg in ("-map", f"0:{d.source.index}")]
    for n, decision in enumerate(kept):
        spec, source = str(n), decision.source
        if rule.title_as_handler and source.title:
            args += [f"-metadata:s:{spec}", f"handler_name={source.title}"]
        if source.kind == "video" and not video_codec_args:
            continue
        if decision.fate is Fate.COPIED:
            args += [f"-c:{spec}", "copy"]
            for codec, option, value in rule.copy_options:
                if codec == source.codec:
                    args += [f"-{option}:{spec}", value]
            continue
        assert decision.encoder is not None
        encoder = decision.encoder
        if source.kind == "video" and treatment is not None:
            encoder = treatment.encoder
        args += [f"-c:{spec}", encoder.name]
        for option, value in encoder.options:
            args += [f"-{option}:{spec}", value]
        if source.kind == "video":
            chain = video_chain or encoder.video_filter or ""
            if treatment is not None:
                chain = treatment.filters(chain)
                args += params_args(treatment, spec)
            if chain:
                args += [f"-filter:{spec}", chain]
        elif source.kind == "audio":
            if audio_chain:
                args += [f"-filter:{spec}", audio_chain]
            if encoder.name in STEREO_ONLY and source.channels > 2:
                args += [f"-ac:{spec}", "2"]
    return args


def keep_all_args(rule: ContainerRule, source_input: int = 0) -> list[str]:
    """Global metadata and chapters from the input (`source_input`, when the command has
    several), and the container's own options."""
    source = str(source_input)
    return ["-map_metadata", source, "-map_chapters", source, *rule.extra_args]


def convert_argv(
    ffmpeg: str,
    src: Path,
    out: OutputSpec,
    plan: StreamPlan,
    rule: ContainerRule,
    treatment: VideoTreatment | None = None,
    *,
    unofficial: bool = False,
) -> list[str]:
    """Remux into `out.muxer`, encoding only the streams the plan says must be.
    `unofficial`: let MP4 write Dolby Vision's configuration box (FFmpeg calls it that)."""
    argv = _head(ffmpeg, src) + stream_args(plan, rule, treatment)
    if unofficial:
        argv += ["-strict", "unofficial"]
    return [*argv, *keep_all_args(rule), *_tail(out)]


def video_result_argv(
    ffmpeg: str,
    src: Path,
    out: OutputSpec,
    plan: StreamPlan,
    rule: ContainerRule,
    treatment: VideoTreatment,
    video_chain: str,
) -> list[str]:
    """A re-encoded video through `video_chain`, every other stream as the plan says."""
    argv = _head(ffmpeg, src) + stream_args(plan, rule, treatment, video_chain)
    return [*argv, *keep_all_args(rule), *_tail(out)]


def resize_chain(size: Size) -> str:
    """Scale to exactly `size` with square pixels: the display shape is size's shape."""
    return f"scale={size.width}:{size.height}:flags=lanczos,setsar=1"


def aspect_chain(plan: AspectPlan) -> str:
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
    return ",".join(filters)


def mp3_argv(
    ffmpeg: str,
    src: Path,
    out: OutputSpec,
    audio_index: int,
    channels: int,
    bitrate_kbps: int | None,
) -> list[str]:
    """One audio stream (`audio_index` in the file) as MP3: constant `bitrate_kbps`, else
    VBR quality 2 (~190k); global tags and chapters kept (ID3)."""
    argv = [*_head(ffmpeg, src), "-map", f"0:{audio_index}", "-c:a", MP3.name]
    if bitrate_kbps is not None:
        argv += ["-b:a", f"{bitrate_kbps}k"]
    else:
        argv += [arg for option, value in MP3.options for arg in (f"-{option}:a", value)]
    if channels > 2:
        argv += ["-ac", "2"]  # MP3 is mono or stereo
    return [*argv, "-map_metadata", "0", "-map_chapters", "0", *_tail(out)]


def clip_frames_chain(size: Size, tonemap: str, fps: float | None = None) -> str:
    """A clip's frames (cut on the input side) as shown: timestamps from 0, tone-mapped
    when asked, at `fps` (None: as they come) and `size` on square pixels."""
    parts = ["setpts=PTS-STARTPTS", tonemap, f"fps={fps:g}" if fps else ""]
    parts.append(f"scale={size.width}:{size.height}:flags=lanczos,setsar=1")
    return ",".join(part for part in parts if part)


# The palette is made from at most this many frames a second of the span: the colours
# of a clip change slowly, and the first pass then scales a third of a 30 fps GIF's frames.
PALETTE_FPS: Final = 10.0
PALETTE_MUXER: Final = "nut"  # one rawvideo RGBA frame, read back as is


def gif_palette_argv(
    ffmpeg: str,
    src: Path,
    palette: Path,
    span: Span,
    size: Size,
    fps: float,
    *,
    video_index: int = 0,
    tonemap: str = "",
) -> list[str]:
    """First pass: a palette for the span's frames (palettegen keeps colour counts, not
    frames: memory does not grow with the span). GIF is 8-bit SDR: an HDR input comes
    through `tonemap` first, in both passes."""
    chain = f"{clip_frames_chain(size, tonemap, min(fps, PALETTE_FPS))},palettegen=stats_mode=diff"
    argv = _head(ffmpeg, src, span.input_args())
    argv += ["-map", f"0:{video_index}", "-filter:v", chain, "-frames:v", "1"]
    return [*argv, "-c:v", "rawvideo", "-f", PALETTE_MUXER, str(palette)]


def gif_argv(
    ffmpeg: str,
    src: Path,
    palette: Path,
    out: OutputSpec,
    span: Span,
    size: Size,
    fps: float,
    *,
    video_index: int = 0,
    tonemap: str = "",
) -> list[str]:
    """Second pass: the span as an animated GIF through the first pass's palette, frame
    by frame (paletteuse streams: one palette given, no frame waits for another)."""
    graph = (
        f"[0:{video_index}]{clip_frames_chain(size, tonemap, fps)}[frames];"
        # Bayer dithering and per-rectangle updates keep files small.
        "[frames][1:v]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle[gif]"
    )
    argv = _head(ffmpeg, src, span.input_args())
    argv += [*own_input_args(PALETTE_MUXER), "-i", str(palette)]
    argv += ["-filter_complex", graph, "-map", "[gif]", "-c:v", "gif", "-loop", "0"]
    return argv + _tail(out)


def webm_argv(
    ffmpeg: str,
    src: Path,
    out: OutputSpec,
    plan: StreamPlan,
    rule: ContainerRule,
    treatment: VideoTreatment,
    span: Span,
    size: Size,
) -> list[str]:
    """`span` as VP9 with every audio track as Opus and text subtitles as WebVTT, all
    starting at 0."""
    chain = clip_frames_chain(size, "")
    args = stream_args(plan, rule, treatment, chain, "asetpts=PTS-STARTPTS")
    argv = [*_head(ffmpeg, src, span.input_args()), *args]
    return [*argv, *keep_all_args(rule), *_tail(out)]


def encoders_in(argv: Sequence[str]) -> list[str]:
    """The encoders an argument list asks for (`-c:...` values other than `copy`)."""
    return [
        value
        for option, value in itertools.pairwise(argv)
        if (option == "-c" or option.startswith("-c:")) and value != "copy"
    ]
