"""Joining the encoded chunks into the result, with every other stream from the source.

The chunks are read through FFmpeg's concat demuxer from a list we write, each with a
`duration` directive equal to its exact length in the source (first frame to the next
chunk's first frame): the demuxer places each chunk's first frame at the sum of the
durations before it, which is that frame's time in the source, so the joined video
keeps the source's timestamps, variable frame rates included. The video is copied, not
encoded again. Audio, subtitles, attachments, chapters and metadata come from the source
in the same run, once, as the compress plan's stream plan says (as the one-piece encode
maps them), never per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from app.media.argv import COMMON_ARGS, PROGRESS_ARGS, keep_all_args, stream_args
from app.media.compress.chunk_encode import CHUNK_MUXER, EncodedChunk
from app.media.compress.plan import CompressPlan
from app.media.demuxers import PROTOCOL_WHITELIST, upload_input_args
from app.media.limits import RunLimits
from app.media.runner import Box, Progress, run_ffmpeg

CONCAT_LIST_NAME: Final = "chunks.ffconcat"


def concat_list(chunks: Sequence[EncodedChunk]) -> str:
    """The concat demuxer's list: bare names (beside the list; `-safe` stays on)."""
    lines = ["ffconcat version 1.0"]
    for chunk in chunks:
        lines += [f"file '{chunk.path.name}'", f"duration {chunk.duration_s:.6f}"]
    return "\n".join(lines) + "\n"


def concat_input_args(list_path: Path, offset_s: float) -> list[str]:
    """Our list, read by the concat demuxer, which may open only our chunk files."""
    args = ["-f", "concat", "-format_whitelist", f"concat,{CHUNK_MUXER}"]
    args += ["-protocol_whitelist", PROTOCOL_WHITELIST]
    if offset_s > 0:  # the video started after the file's start: keep it there
        args += ["-itsoffset", f"{offset_s:.6f}"]
    return [*args, "-i", str(list_path)]


def joined_streams_args(plan: CompressPlan) -> list[str]:
    """The one-piece encode's stream mapping with the video taken from input 0 (the
    joined chunks, copied) and every other stream from input 1 (the source)."""
    video = plan.streams.video()
    video_index = video.source.index if video is not None else plan.picture.index
    args = stream_args(plan.streams, plan.result.rule, video_codec_args=False)
    remapped: list[str] = []
    output_video = 0
    outputs = 0
    for option, value in zip(args[::2], args[1::2], strict=False):
        if option != "-map":
            break
        source = int(value.split(":", 1)[1])
        if source == video_index:
            output_video = outputs
            remapped += ["-map", "0:v:0"]
        else:
            remapped += ["-map", f"1:{source}"]
        outputs += 1
    rest = args[2 * outputs :]
    tag = (
        ["-tag:v", "hvc1"] if plan.video.encoder == "libx265" and plan.result.muxer == "mp4" else []
    )
    return [*remapped, *rest, f"-c:{output_video}", "copy", *tag]


def join_argv(
    ffmpeg: str,
    list_path: Path,
    src: Path,
    plan: CompressPlan,
    out: Path,
    limit_bytes: int,
    offset_s: float,
) -> list[str]:
    return [
        ffmpeg,
        *COMMON_ARGS,
        *PROGRESS_ARGS,
        *concat_input_args(list_path, offset_s),
        *upload_input_args(),
        *("-i", str(src)),
        *joined_streams_args(plan),
        *keep_all_args(plan.result.rule, source_input=1),  # the source's, not the chunks'
        *("-fs", str(limit_bytes)),
        *("-f", plan.result.muxer, str(out)),
    ]


async def join_chunks(
    ffmpeg: str,
    chunks: Sequence[EncodedChunk],
    src: Path,
    plan: CompressPlan,
    out: Path,
    *,
    limit_bytes: int,
    offset_s: float,
    duration_s: float,
    limits: RunLimits,
    on_progress: Callable[[Progress], None] | None = None,
) -> None:
    """Write the result: the chunks (in order) joined, the source's other streams muxed."""
    directory = chunks[0].path.parent
    list_path = directory / CONCAT_LIST_NAME
    list_path.write_text(concat_list(chunks), encoding="utf-8")
    argv = join_argv(ffmpeg, list_path, src, plan, out, limit_bytes, offset_s)
    box = Box((list_path, *(c.path for c in chunks), src), (out,), limits)
    try:
        await run_ffmpeg(argv, duration_s, on_progress, box=box)
    finally:
        list_path.unlink(missing_ok=True)
