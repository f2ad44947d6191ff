"""Caps on what an upload may ask of the server, and the resource limits of media work.

Caps on the input are checked against the probe before any decoding starts (SPEC §3.0):
a 46 KB GIF can declare an 8000x8000 canvas and a 2 MB PNG 16000x16000 pixels, and a
decoder allocates what the header says. The resource limits bound every process that
reads an upload (the probe, each FFmpeg run) whatever the caps missed. Defaults and why
are in docs/security.md#resource-limits.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Final

from app.media.media_info import MediaInfo
from app.protocol.errors import ErrorCode, VcsError

MiB: Final = 1 << 20
GiB: Final = 1 << 30

# DCI 8K (8192x4320) is the largest frame accepted: every 8K format, portrait too.
MAX_FRAME_SIDE: Final = 8192
MAX_FRAME_PIXELS: Final = 8192 * 4320
# The fastest capture rate in common use (phones' slow motion); GIFs with 1/100 s delays
# are 100 fps.
MAX_FPS: Final = 240.0
# Frames one op may decode: 4 hours at 30 fps, 2 hours at 60.
DEFAULT_MAX_DECODED_FRAMES: Final = 432_000

# FFmpeg's address space: a base for the program, its threads and codecs, plus room per
# input pixel for the frames an encoder holds (x264's look-ahead, the metric's queue).
# x264 medium peaked at 961 MiB at 720p and 8,060 MiB at 8K (bench/media_memory.py):
# these give 2.3 GiB and 11.9 GiB, the 8K peak at 66 % of its limit.
DEFAULT_FFMPEG_MEMORY_BASE: Final = 2 * GiB
DEFAULT_FFMPEG_MEMORY_PER_PIXEL: Final = 320
DEFAULT_FFMPEG_PROCESSES: Final = 512  # threads count: x265 alone starts dozens
# The probe process: Python, PyAV's FFmpeg libraries and one demuxer, no decoding of
# large frames (the decoders' pixel cap refuses them before they allocate).
DEFAULT_PROBE_MEMORY: Final = 1 * GiB
DEFAULT_PROBE_CPU_S: Final = 30
DEFAULT_PROBE_WALL_S: Final = 60.0
# An output file may pass the op's output cap by this much before the kernel stops
# FFmpeg (RLIMIT_FSIZE): `-fs` normally stops it first; the trailer (an MP4 index) can
# still follow.
FILE_SIZE_SLACK: Final = 64 * MiB


@dataclass(frozen=True, slots=True)
class RunLimits:
    """The rlimits of one process: address space, largest file, CPU seconds, processes
    (threads included) of its user."""

    memory_bytes: int
    file_bytes: int
    cpu_s: int
    processes: int


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """What the server allows media work, with the defaults above."""

    max_decoded_frames: int = DEFAULT_MAX_DECODED_FRAMES
    ffmpeg_memory_base: int = DEFAULT_FFMPEG_MEMORY_BASE
    ffmpeg_memory_per_pixel: int = DEFAULT_FFMPEG_MEMORY_PER_PIXEL
    # CPU seconds per FFmpeg run: a backstop for a run nobody waits for any more (the
    # job timeout stops the ones the server waits for).
    ffmpeg_cpu_s: int = 6 * 3600 * (os.cpu_count() or 1)
    ffmpeg_processes: int = DEFAULT_FFMPEG_PROCESSES
    probe_memory_bytes: int = DEFAULT_PROBE_MEMORY
    probe_cpu_s: int = DEFAULT_PROBE_CPU_S
    probe_wall_s: float = DEFAULT_PROBE_WALL_S

    def ffmpeg_memory(self, info: MediaInfo | None) -> int:
        pixels = info.video.width * info.video.height if info and info.video else 0
        return self.ffmpeg_memory_base + self.ffmpeg_memory_per_pixel * min(
            pixels, MAX_FRAME_PIXELS
        )

    def for_ffmpeg(self, info: MediaInfo | None, output_cap_bytes: int) -> RunLimits:
        """Limits of one FFmpeg run on `info`'s input writing at most `output_cap_bytes`
        per file."""
        return RunLimits(
            memory_bytes=self.ffmpeg_memory(info),
            file_bytes=output_cap_bytes + FILE_SIZE_SLACK,
            cpu_s=self.ffmpeg_cpu_s,
            processes=self.ffmpeg_processes,
        )

    def for_probe(self) -> RunLimits:
        # The probe writes no file: any write is a sign it is not the probe any more.
        return RunLimits(self.probe_memory_bytes, 0, self.probe_cpu_s, self.ffmpeg_processes)


DEFAULT_LIMITS: Final = MediaLimits()


def media_too_large(description: str, solution: str) -> VcsError:
    return VcsError(ErrorCode.MEDIA_TOO_LARGE, description, solution)


def frame_too_large(width: int, height: int) -> VcsError:
    return media_too_large(
        f"The upload's frames are {width}x{height} pixels; this server takes at most "
        f"{MAX_FRAME_SIDE} pixels a side and {MAX_FRAME_PIXELS:,} pixels a frame (8192x4320).",
        "Scale the video down locally first (e.g. `ffmpeg -i in -vf scale=3840:-2 out.mp4`).",
    )


def check_frames(info: MediaInfo) -> None:
    """Caps on what a frame may be: size and rate (from the probe, before any decoding)."""
    video = info.video
    if video is None:
        return
    if (
        max(video.width, video.height) > MAX_FRAME_SIDE
        or video.width * video.height > MAX_FRAME_PIXELS
    ):
        raise frame_too_large(video.width, video.height)
    if video.fps > MAX_FPS:
        raise media_too_large(
            f"The upload's video runs at {video.fps:g} frames per second; this server "
            f"takes at most {MAX_FPS:g}.",
            "Lower the frame rate locally first (e.g. `ffmpeg -i in -r 60 out.mp4`).",
        )


def frames_to_decode(info: MediaInfo, seconds: float) -> int:
    """Frames in `seconds` of the input's video: by its rate, or its frame count when the
    container gives more (a header may understate the rate; the count is what is there)."""
    video = info.video
    if video is None:
        return 0
    by_rate = seconds * video.fps if video.fps > 0 else 0.0
    if video.frames and info.duration_s > 0:
        by_rate = max(by_rate, video.frames * min(1.0, seconds / info.duration_s))
    return math.ceil(by_rate) if math.isfinite(by_rate) else 0


def check_decoded_frames(info: MediaInfo, seconds: float, limits: MediaLimits) -> None:
    """The op's work cap: the frames it decodes from `seconds` of the input."""
    frames = frames_to_decode(info, seconds)
    if frames > limits.max_decoded_frames:
        raise media_too_large(
            f"This op would decode {frames:,} frames; this server decodes at most "
            f"{limits.max_decoded_frames:,} per op.",
            "Cut the video into shorter parts, or ask the operator to raise --max-decoded-frames.",
        )
