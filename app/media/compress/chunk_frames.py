"""Where a run of the source's frames lies in time, for the FFmpeg runs that read it.

Chunk times count from the first frame (scenes.py); FFmpeg's input `-ss` counts from
the file's start, where the first frame may sit a little later (`offset_s`). A read of
frames [first, first + count) seeks halfway between the frame before `first` and
`first` itself, so a rounding of the seek in either direction still lands on `first`.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.media.compress.chunks import Chunk
from app.media.compress.scenes import SceneScan
from app.media.compress.search_policy import SampleWindow


@dataclass(frozen=True, slots=True)
class FrameRun:
    first: int
    count: int
    seek_s: float  # input -ss
    lead_s: float  # the first frame's timestamp after that seek
    span_s: float  # first frame to last frame
    duration_s: float  # first frame to the frame after the run (or the video's end)

    @property
    def window(self) -> SampleWindow:
        """The run as a sample window (input -ss/-t), ending halfway past its last frame."""
        return SampleWindow(self.seek_s, self.lead_s + self.span_s + self._tail_s)

    @property
    def _tail_s(self) -> float:
        last_gap = (self.duration_s - self.span_s) if self.count else 0.0
        return max(last_gap / 2, 0.0)


def frame_run(scan: SceneScan, first: int, count: int, end_s: float) -> FrameRun:
    times = scan.frame_times_s
    after = first + count
    stop_s = times[after] if after < len(times) else end_s
    if first == 0:
        seek_s, lead_s = 0.0, scan.offset_s
    else:
        seek_s = scan.offset_s + (times[first - 1] + times[first]) / 2
        lead_s = (times[first] - times[first - 1]) / 2
    return FrameRun(
        first,
        count,
        seek_s,
        lead_s,
        times[after - 1] - times[first],
        stop_s - times[first],
    )


def chunk_frames(scan: SceneScan, chunk: Chunk, end_s: float) -> FrameRun:
    return frame_run(scan, chunk.first_frame, chunk.frame_count, end_s)


def video_end_s(scan: SceneScan) -> float:
    """Where the last frame ends: its time plus the gap before it (a VFR clip's last
    frame lasts as long as the frames around it)."""
    times = scan.frame_times_s
    if len(times) < 2:
        return times[0] + 1 / 25 if times else 0.0
    return times[-1] + (times[-1] - times[-2])
