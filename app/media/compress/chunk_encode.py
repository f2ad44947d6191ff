"""One chunk's encode: a self-contained task (serialisable, so a work queue can carry it)
and its run — encode the chunk's frames of the source, check them, keep the file.

A task names everything its encode depends on: the source, which frames (where to seek,
how many), how the picture is prepared, the encoder's arguments with the CRF. Its `key`
is the hash of those, so a finished chunk is recognised by what made it (resume: a chunk
with the same key is never encoded twice) and not by where it sits in a list.

The chunk is written as NUT, which keeps the encoder's time base (the source's) exactly:
Matroska would round every timestamp to a millisecond. It starts at its first frame
(`-ss` between that frame and the one before it, so rounding cannot move the cut: only
inputs with an index, where FFmpeg's seek is exact, are chunked) and holds exactly
`frame_count` frames (`-frames:v`), checked with their spacing after the encode; the
join (join.py) puts each chunk at its start time with the concat demuxer's `duration`
directives.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from app.media.argv import COMMON_ARGS, PROGRESS_ARGS
from app.media.compress.argv import KEEP_EVERY_FRAME
from app.media.demuxers import own_input_args, upload_input_args
from app.media.limits import RunLimits
from app.media.runner import Box, Progress, run_ffmpeg
from app.protocol.errors import ErrorCode, VcsError

CHUNK_MUXER: Final = "nut"
# How far a chunk's frame times may stray from the source's (the NUT time base is the
# source's, so only the rounding to microseconds of the plan).
TIME_SLACK_S: Final = 0.002
_PACKET_RE: Final = re.compile(r"^\s*0,\s*(-?\d+),\s*(-?\d+),\s*(\d+),\s*(\d+)")
_TIME_BASE_RE: Final = re.compile(r"^#tb 0:\s*(\d+)/(\d+)")
_HEADERS_RE: Final = re.compile(r"^#extradata 0:\s*(\d+),\s*(0x[0-9a-f]+)")


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """Encode frames [first_frame, first_frame + frame_count) of `src` at `crf`."""

    src: str
    index: int
    first_frame: int
    frame_count: int
    seek_s: float  # input -ss: between the frame before the chunk and its first frame
    span_s: float  # first frame to last frame, in the source
    duration_s: float  # first frame to the next chunk's first frame (or the video's end)
    video_index: int
    prepare: str  # the filter chain preparing the picture (picture.py)
    codec_args: tuple[str, ...]  # the encoder and its options, the CRF among them
    crf: float
    threads: int = 1  # encoder and decoder threads (not part of the key)

    @property
    def key(self) -> str:
        """What the chunk's bytes depend on, hashed: not the threads (they change only
        the speed) nor where the source is (one job's input wherever it is copied: its
        node's copy from the blob store, a storage directory moved between runs)."""
        doc = asdict(self)
        for name in ("src", "index", "threads"):
            doc.pop(name)
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ChunkTask:
        return cls(**{**doc, "codec_args": tuple(doc["codec_args"])})


@dataclass(frozen=True, slots=True)
class EncodedChunk:
    """A finished, verified chunk file."""

    index: int
    key: str
    crf: float
    path: Path
    frames: int
    duration_s: float
    size_bytes: int
    # The stream's parameter sets (size and CRC, from framecrc): the join needs every
    # chunk's to be the same, since the result's container holds one set.
    headers: str
    node: str = ""  # the cluster node that encoded it ("" here, in this process)
    encode_s: float = 0.0  # its encode and check, wall time

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": self.path.name}

    @classmethod
    def from_json(cls, doc: dict[str, Any], directory: Path) -> EncodedChunk:
        return cls(**{**doc, "path": directory / str(doc["path"])})


def chunk_encode_argv(ffmpeg: str, task: ChunkTask, out: Path) -> list[str]:
    threads = str(max(1, task.threads))
    return [
        ffmpeg,
        *COMMON_ARGS,
        *PROGRESS_ARGS,
        *("-threads", threads),
        *("-ss", f"{task.seek_s:.6f}"),
        *upload_input_args(),
        *("-i", task.src),
        *("-map", f"0:{task.video_index}"),
        *("-frames:v", str(task.frame_count)),
        *("-filter:v", task.prepare),
        *KEEP_EVERY_FRAME,
        *task.codec_args,
        *("-threads", threads),
        *("-an", "-sn", "-dn", "-map_metadata", "-1"),
        *("-f", CHUNK_MUXER, str(out)),
    ]


def packets_argv(ffmpeg: str, chunk: Path) -> list[str]:
    """Every video packet of a chunk we wrote, without decoding: `framecrc` prints each
    one's dts, pts, duration and size in the stream's time base."""
    return [
        ffmpeg,
        *COMMON_ARGS,
        *own_input_args(CHUNK_MUXER),
        *("-i", str(chunk)),
        *("-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"),
    ]


@dataclass(frozen=True, slots=True)
class PacketTimes:
    frames: int
    first_s: float  # the earliest presentation time
    span_s: float  # earliest to latest presentation time
    headers: str = ""


class PacketLog:
    """Reads framecrc's lines into what a chunk's check needs."""

    def __init__(self) -> None:
        self._time_base = (1, 1)
        self._pts: list[int] = []
        self._headers = ""

    def feed_line(self, line: str) -> None:
        if headers := _HEADERS_RE.match(line):
            self._headers = f"{headers.group(1)}:{headers.group(2)}"
        elif tb := _TIME_BASE_RE.match(line):
            self._time_base = (int(tb.group(1)), int(tb.group(2)))
        elif packet := _PACKET_RE.match(line):
            self._pts.append(int(packet.group(2)))

    def result(self) -> PacketTimes:
        if not self._pts:
            return PacketTimes(0, 0.0, 0.0, self._headers)
        num, den = self._time_base
        first, last = min(self._pts), max(self._pts)
        span = (last - first) * num / den
        return PacketTimes(len(self._pts), first * num / den, span, self._headers)


def chunk_mismatch(task: ChunkTask, times: PacketTimes) -> str | None:
    """What is wrong with an encoded chunk's frames, or None when they are the task's."""
    if times.frames != task.frame_count:
        return f"{times.frames} frames instead of {task.frame_count}"
    if abs(times.span_s - task.span_s) > TIME_SLACK_S * max(1, task.frame_count // 100):
        return f"its frames span {times.span_s:.3f} s instead of {task.span_s:.3f} s"
    return None


class ChunkMismatch(VcsError):
    """Encoded chunks that cannot make the result: a chunk's frames are not the
    source's (a timeline the encode does not keep), or the chunks' parameter sets
    differ. The job falls back to the one-piece path."""

    def __init__(self, index: int, why: str) -> None:
        super().__init__(
            ErrorCode.FFMPEG_FAILED,
            f"Chunk {index} of the video came out wrong: {why}.",
            "Report the job id to the operator; the input's timestamps may be broken "
            "(remuxing it locally, e.g. `ffmpeg -i in -c copy out.mkv`, often repairs them).",
        )
        self.index, self.why = index, why
        self.reason = f"chunk {index}: {why}"


async def encode_chunk(
    ffmpeg: str,
    task: ChunkTask,
    directory: Path,
    limits: RunLimits,
    on_progress: Callable[[Progress], None] | None = None,
) -> EncodedChunk:
    """Run `task` into `directory`: encode to a temporary name, check every frame is
    there with its time, then give it its final name (the key's). Raises VcsError."""
    started = time.monotonic()
    final = directory / f"chunk-{task.index:05d}-{task.key}.{CHUNK_MUXER}"
    partial = directory / f".chunk-{task.index:05d}.{CHUNK_MUXER}.part"
    src = Path(task.src)
    try:
        argv = chunk_encode_argv(ffmpeg, task, partial)
        await run_ffmpeg(argv, task.duration_s, on_progress, box=Box((src,), (partial,), limits))
        packets = PacketLog()
        await run_ffmpeg(
            packets_argv(ffmpeg, partial),
            task.duration_s,
            box=Box((partial,), (), limits),
            on_output_line=packets.feed_line,
        )
        times = packets.result()
        if (why := chunk_mismatch(task, times)) is not None:
            raise ChunkMismatch(task.index, why)
        size = partial.stat().st_size
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return EncodedChunk(
        task.index,
        task.key,
        task.crf,
        final,
        task.frame_count,
        task.duration_s,
        size,
        times.headers,
        encode_s=round(time.monotonic() - started, 3),
    )


def check_same_headers(chunks: Sequence[EncodedChunk]) -> None:
    """Raise ChunkMismatch unless every chunk has the first one's parameter sets."""
    for chunk in chunks[1:]:
        if chunk.headers != chunks[0].headers:
            raise ChunkMismatch(chunk.index, "its parameter sets differ from chunk 0's")
