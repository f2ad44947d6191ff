"""Cutting a video into chunks at scene changes (pure: the frame list comes from FFmpeg).

A chunk is a run of whole frames, encoded on its own (it starts with a keyframe) and
joined to the others without re-encoding. Cuts go where the picture changes (FFmpeg's
`scdet` scores each frame 0..100 by how much it differs from the previous one): a
keyframe there costs nothing extra, and each chunk then holds one kind of picture, so
one CRF suits all of it. Chunks are kept between `min_s` and `max_s` long: shorter ones
waste keyframes and start-ups, longer ones limit how many cores and nodes share a file
(docs/compression.md, "Chunks").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

# scdet's own default: a score of 10 is a cut to a new shot.
SCENE_THRESHOLD: Final = 10.0
MIN_CHUNK_S: Final = 4.0
MAX_CHUNK_S: Final = 20.0


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    first_frame: int
    frame_count: int
    start_s: float  # the first frame's time
    end_s: float  # the next chunk's first frame's time (or the end of the video)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def end_frame(self) -> int:
        return self.first_frame + self.frame_count


def plan_chunks(
    frame_times_s: Sequence[float],
    scene_scores: Mapping[int, float],
    end_s: float,
    *,
    threshold: float = SCENE_THRESHOLD,
    min_s: float = MIN_CHUNK_S,
    max_s: float = MAX_CHUNK_S,
) -> tuple[Chunk, ...]:
    """Chunks covering every frame once, in order.

    `frame_times_s`: each frame's presentation time, increasing (variable frame rate is
    fine); `scene_scores`: frame index → scdet score (frames not listed score 0);
    `end_s`: where the last frame ends. A cut is made at a scene change once the
    current chunk is `min_s` long; a chunk that reaches `max_s` without one is cut at
    its most changed frame after `min_s`, or evenly when none stands out.
    """
    count = len(frame_times_s)
    if count == 0:
        return ()
    if not 2 * min_s <= max_s:
        # Else a chunk cut at the maximum can leave a tail no split can make long enough.
        raise ValueError("max_s must be at least twice min_s")
    cuts = [0]
    for frame in range(1, count):
        start = cuts[-1]
        length = frame_times_s[frame] - frame_times_s[start]
        if length >= min_s and scene_scores.get(frame, 0.0) >= threshold:
            cuts.append(frame)
        elif length >= max_s:
            cuts.append(_forced_cut(frame_times_s, scene_scores, start, frame, min_s))
    # A last chunk shorter than the minimum joins the one before it, if that stays
    # within the maximum; else the two share their frames evenly (each half is then
    # longer than the minimum, as max_s ≥ 2 min_s).
    if len(cuts) > 1 and end_s - frame_times_s[cuts[-1]] < min_s:
        last = cuts.pop()
        if end_s - frame_times_s[cuts[-1]] > max_s:
            cuts.append(_middle_frame(frame_times_s, cuts[-1], count, end_s, last))
    bounds = [*cuts, count]
    chunks = []
    for index, (first, after) in enumerate(itertools.pairwise(bounds)):
        stop_s = frame_times_s[after] if after < count else end_s
        chunks.append(Chunk(index, first, after - first, frame_times_s[first], stop_s))
    return tuple(chunks)


def _forced_cut(
    times: Sequence[float], scores: Mapping[int, float], start: int, frame: int, min_s: float
) -> int:
    """Where to cut a chunk that reached its maximum at `frame` with no scene change."""
    eligible = [f for f in range(start + 1, frame + 1) if times[f] - times[start] >= min_s]
    best = max(eligible, key=lambda f: (scores.get(f, 0.0), -f))
    if scores.get(best, 0.0) > 0:
        return best
    return frame


def _middle_frame(times: Sequence[float], start: int, count: int, end_s: float, near: int) -> int:
    """The frame closest to halfway between `start`'s time and `end_s` (not `start`)."""
    middle = (times[start] + end_s) / 2
    best = min(range(start + 1, count), key=lambda f: (abs(times[f] - middle), f))
    return best if best > start else near


def chunking_worthwhile(duration_s: float, threshold_s: float) -> bool:
    """Inputs shorter than `threshold_s` keep the one-piece path (one search, one
    encode): their chunks would be all start-up and keyframes."""
    return math.isfinite(duration_s) and duration_s >= threshold_s
