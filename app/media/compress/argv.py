"""FFmpeg argument lists of the compress op: sample trials, the final encode, the metric.

Every list reads the source the same way (`SourcePicture`) — its main video stream,
upright (FFmpeg applies the display matrix), cropped to even dimensions (4:2:0 needs
them; a crop loses at most one row or column where a scale would resample the whole
picture) and converted to 4:2:0 in the encode's bit depth, tone-mapped first when an
HDR input is encoded as SDR — so that the frames the encoder gets and the frames the
metric compares against are the same frames. VMAF is an SDR model: when HDR is kept,
both sides are tone-mapped the same way just before the metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from app.media.argv import COMMON_ARGS, PROGRESS_ARGS, keep_all_args, stream_args
from app.media.compress.metric import Metric, metric_filter
from app.media.compress.picture import PLAIN_PICTURE, SourcePicture
from app.media.compress.plan import CompressPlan, VideoEncoder
from app.media.compress.search_policy import SampleWindow
from app.media.demuxers import own_input_args, upload_input_args
from app.media.video_treatment import VideoTreatment

# The tries' container (no index to write at the end, any codec fits) and the raw
# samples' (rawvideo with timestamps).
TRIAL_MUXER: Final = "matroska"
RAW_SAMPLES_MUXER: Final = "nut"
BY_FRAME_INDEX: Final = "settb=AVTB,setpts=N"
# One output frame per decoded frame, with its timestamp: no frame dropped or doubled
# to make a variable-rate source constant, so the result pairs 1:1 with the source.
KEEP_EVERY_FRAME: Final = ("-fps_mode", "passthrough")


def _before_metric(picture: SourcePicture) -> str:
    """What each side goes through just before the metric: renumbered (see
    quality_argv), and tone-mapped when the encode kept HDR."""
    return f"{BY_FRAME_INDEX},{picture.to_metric}" if picture.to_metric else BY_FRAME_INDEX


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


def source_video_graph(
    first_input: int, count: int, label: str, picture: SourcePicture = PLAIN_PICTURE
) -> str:
    """Filters giving the prepared source video (its samples, joined) as `[label]`."""
    index, prepare = picture.index, picture.prepare
    if count <= 1:
        return f"[{first_input}:{index}]{prepare}[{label}]"
    parts = [f"[{first_input + i}:{index}]{prepare}[s{i}]" for i in range(count)]
    joined = "".join(f"[s{i}]" for i in range(count))
    return ";".join([*parts, f"{joined}concat=n={count}:v=1:a=0[{label}]"])


def _samples_argv(
    ffmpeg: str,
    src: Path,
    windows: Sequence[SampleWindow],
    codec_args: Sequence[str],
    picture: SourcePicture,
    own_format: str | None = None,
) -> list[str]:
    """The samples (or the whole `src`), prepared and joined, into `codec_args`."""
    return [
        ffmpeg,
        *COMMON_ARGS,
        *PROGRESS_ARGS,
        *source_inputs(src, windows, own_format),
        "-filter_complex",
        source_video_graph(0, len(windows), "v", picture),
        "-map",
        "[v]",
        *KEEP_EVERY_FRAME,
        *codec_args,
    ]


def samples_raw_argv(
    ffmpeg: str,
    src: Path,
    windows: Sequence[SampleWindow],
    out: Path,
    picture: SourcePicture = PLAIN_PICTURE,
) -> list[str]:
    """The samples, prepared and joined, uncompressed: the search's tries encode them and
    score against them without decoding the source again (NUT keeps the timestamps, so
    a try encodes exactly what it would have from the source)."""
    codec_args = ["-c:v", "rawvideo", "-f", RAW_SAMPLES_MUXER, str(out)]
    return _samples_argv(ffmpeg, src, windows, codec_args, picture)


def sample_encode_argv(
    ffmpeg: str,
    src: Path,
    windows: Sequence[SampleWindow],
    video: VideoEncoder,
    crf: float,
    out: Path,
    picture: SourcePicture = PLAIN_PICTURE,
    treatment: VideoTreatment | None = None,
    *,
    own_format: str | None = None,
) -> list[str]:
    """The samples, joined, encoded at `crf` exactly as the final encode would (Matroska:
    no index to write at the end, and any codec fits). `own_format`: as source_inputs."""
    codec_args = [*video.video_args(crf, for_mp4=False, treatment=treatment)]
    codec_args += ["-f", TRIAL_MUXER, str(out)]
    return _samples_argv(ffmpeg, src, windows, codec_args, picture, own_format)


def final_encode_argv(
    ffmpeg: str, src: Path, plan: CompressPlan, crf: float, out: Path, limit_bytes: int
) -> list[str]:
    """The whole input: the main video at `crf`, every other stream as the plan's stream
    plan says (audio copied or re-encoded per track, subtitles, attachments), chapters
    and metadata, into the plan's container. `-fs` stops FFmpeg once the output reaches
    `limit_bytes` (the input's size: a result that big is discarded anyway, SPEC §4)."""
    result = plan.result
    streams = stream_args(plan.streams, result.rule, video_codec_args=False)
    return [
        ffmpeg,
        *COMMON_ARGS,
        *PROGRESS_ARGS,
        *input_args(src, None),
        *streams,
        "-filter:v:0",
        plan.picture.prepare,
        *KEEP_EVERY_FRAME,
        *plan.video.video_args(crf, for_mp4=result.muxer == "mp4", treatment=plan.treatment),
        *keep_all_args(result.rule),
        "-fs",
        str(limit_bytes),
        "-f",
        result.muxer,
        str(out),
    ]


def scored_while_encoding(
    metric: Metric, log_path: Path, subsample: int, picture: SourcePicture = PLAIN_PICTURE
) -> list[str]:
    """Arguments to append to `final_encode_argv`: FFmpeg decodes the video it encodes
    (a loopback decoder, FFmpeg ≥ 7) and scores it against the source frames it has just
    decoded for the encoder, so the source is decoded once for both (a heavy source's
    decoding cost as much as the metric). Pairing by frame index as in `quality_argv`."""
    before_metric = _before_metric(picture)
    graph = ";".join(
        [
            f"[dec:0]{before_metric}[d]",
            f"[0:{picture.index}]{picture.prepare},{before_metric}[r]",
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
    picture: SourcePicture = PLAIN_PICTURE,
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
    before_metric = _before_metric(picture)
    graph = ";".join(
        [
            f"[0:v:0]{before_metric}[d]",
            source_video_graph(1, len(windows), "src", picture),
            f"[src]{before_metric}[r]",
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
