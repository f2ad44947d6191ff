"""FFmpeg argument lists of the compress op: sample trials, the final encode, the metric.

Every list reads the source the same way — cropped to even dimensions (4:2:0 needs
them; a crop loses at most one row or column where a scale would resample the whole
picture) and converted to 8-bit 4:2:0 — so that the frames the encoder gets and the
frames the metric compares against are the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from app.media.argv import COMMON_ARGS, PROGRESS_ARGS
from app.media.compress.metric import Metric, metric_filter
from app.media.compress.plan import CompressPlan, VideoEncoder
from app.media.compress.search_policy import SampleWindow
from app.media.demuxers import own_input_args, upload_input_args

# The tries' container (no index to write at the end, any codec fits) and the raw
# samples' (rawvideo with timestamps).
TRIAL_MUXER: Final = "matroska"
RAW_SAMPLES_MUXER: Final = "nut"
PREPARE_VIDEO: Final = "crop=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p"
BY_FRAME_INDEX: Final = "settb=AVTB,setpts=N"
# One output frame per decoded frame, with its timestamp: no frame dropped or doubled
# to make a variable-rate source constant, so the result pairs 1:1 with the source.
KEEP_EVERY_FRAME: Final = ("-fps_mode", "passthrough")


def input_args(src: Path, own_format: str | None) -> list[str]:
    """`-i src` with its allowlist: the upload's (None), or the one format we wrote it in."""
    options = own_input_args(own_format) if own_format else upload_input_args()
    return [*options, "-i", str(src)]


def source_inputs(
    src: Path, windows: Sequence[SampleWindow], own_format: str | None = None
) -> list[str]:
    """One input per sample window (input-side -ss/-t: exact, and only that part is
    decoded), or the whole file when there are no windows. `own_format`: `src` is a file
    we wrote (the raw samples), not the upload."""
    if not windows:
        return input_args(src, own_format)
    args: list[str] = []
    for window in windows:
        args += ["-ss", f"{window.start_s:.3f}", "-t", f"{window.duration_s:.3f}"]
        args += input_args(src, own_format)
    return args


def source_video_graph(first_input: int, count: int, label: str) -> str:
    """Filters giving the prepared source video (its samples, joined) as `[label]`."""
    if count <= 1:
        return f"[{first_input}:v:0]{PREPARE_VIDEO}[{label}]"
    parts = [f"[{first_input + i}:v:0]{PREPARE_VIDEO}[s{i}]" for i in range(count)]
    joined = "".join(f"[s{i}]" for i in range(count))
    return ";".join([*parts, f"{joined}concat=n={count}:v=1:a=0[{label}]"])


def _samples_argv(
    ffmpeg: str,
    src: Path,
    windows: Sequence[SampleWindow],
    codec_args: Sequence[str],
    own_format: str | None = None,
) -> list[str]:
    """The samples (or the whole `src`), prepared and joined, into `codec_args`."""
    return [
        ffmpeg,
        *COMMON_ARGS,
        *PROGRESS_ARGS,
        *source_inputs(src, windows, own_format),
        "-filter_complex",
        source_video_graph(0, len(windows), "v"),
        "-map",
        "[v]",
        *KEEP_EVERY_FRAME,
        *codec_args,
    ]


def samples_raw_argv(
    ffmpeg: str, src: Path, windows: Sequence[SampleWindow], out: Path
) -> list[str]:
    """The samples, prepared and joined, uncompressed: the search's tries encode them and
    score against them without decoding the source again (NUT keeps the timestamps, so
    a try encodes exactly what it would have from the source)."""
    codec_args = ["-c:v", "rawvideo", "-f", RAW_SAMPLES_MUXER, str(out)]
    return _samples_argv(ffmpeg, src, windows, codec_args)


def sample_encode_argv(
    ffmpeg: str,
    src: Path,
    windows: Sequence[SampleWindow],
    video: VideoEncoder,
    crf: float,
    out: Path,
    own_format: str | None = None,
) -> list[str]:
    """The samples, joined, encoded at `crf` exactly as the final encode would (Matroska:
    no index to write at the end, and any codec fits). `own_format`: as source_inputs."""
    codec_args = [*video.video_args(crf, for_mp4=False), "-f", TRIAL_MUXER, str(out)]
    return _samples_argv(ffmpeg, src, windows, codec_args, own_format)


def final_encode_argv(
    ffmpeg: str, src: Path, plan: CompressPlan, crf: float, out: Path, limit_bytes: int
) -> list[str]:
    """The whole input: first video and audio stream into a faststart MP4. `-fs` stops
    FFmpeg once the output reaches `limit_bytes` (the input's size: a result that big
    is discarded anyway, SPEC §4)."""
    return [
        ffmpeg,
        *COMMON_ARGS,
        *PROGRESS_ARGS,
        *input_args(src, None),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-sn",
        "-dn",
        "-vf",
        PREPARE_VIDEO,
        *KEEP_EVERY_FRAME,
        *plan.video.video_args(crf, for_mp4=True),
        *plan.audio.args(),
        "-movflags",
        "+faststart",
        "-map_metadata",
        "0",
        "-fs",
        str(limit_bytes),
        "-f",
        plan.media_type,
        str(out),
    ]


def scored_while_encoding(metric: Metric, log_path: Path, subsample: int) -> list[str]:
    """Arguments to append to `final_encode_argv`: FFmpeg decodes the video it encodes
    (a loopback decoder, FFmpeg ≥ 7) and scores it against the source frames it has just
    decoded for the encoder, so the source is decoded once for both (a heavy source's
    decoding cost as much as the metric). Pairing by frame index as in `quality_argv`."""
    graph = ";".join(
        [
            f"[dec:0]{BY_FRAME_INDEX}[d]",
            f"[0:v:0]{PREPARE_VIDEO},{BY_FRAME_INDEX}[r]",
            f"[d][r]{metric_filter(metric, log_path, subsample)}[out]",
        ]
    )
    return ["-dec", "0:0", "-filter_complex", graph, "-map", "[out]", "-f", "null", "-"]


def quality_argv(
    ffmpeg: str,
    distorted: Path,
    src: Path,
    windows: Sequence[SampleWindow],
    metric: Metric,
    log_path: Path,
    subsample: int = 1,
    *,
    distorted_format: str,
    src_format: str | None = None,
) -> list[str]:
    """Score `distorted` (a file we wrote as `distorted_format`) against the same frames
    of `src` (all of it, or the samples; `src_format` as in source_inputs).

    The metric pairs frames by timestamp; both sides are renumbered (pts = frame index)
    so that frame n meets frame n. Timestamps alone do not do it: Matroska rounds them to
    milliseconds, and at 23.976 fps that paired each frame with its predecessor (VMAF 70
    instead of 93 on Megamind.avi). Our encodes keep every frame (`-fps_mode
    passthrough`), so index n on both sides is the same picture.
    """
    graph = ";".join(
        [
            f"[0:v:0]{BY_FRAME_INDEX}[d]",
            source_video_graph(1, len(windows), "src"),
            f"[src]{BY_FRAME_INDEX}[r]",
            f"[d][r]{metric_filter(metric, log_path, subsample)}[out]",
        ]
    )
    return [
        ffmpeg,
        *COMMON_ARGS,
        *PROGRESS_ARGS,
        *input_args(distorted, distorted_format),
        *source_inputs(src, windows, src_format),
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-f",
        "null",
        "-",
    ]
