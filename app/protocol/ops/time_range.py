"""A gif or webm time range against the input's duration, as the server and the TUI
check it once the duration is known (the op table checks the range's own shape)."""

from __future__ import annotations

import math
from typing import Final

from app.protocol.ops.fields import BadParam

MAX_SPAN_S: Final = 60.0  # gif and webm ranges span at most a minute
# A range may end this far past the probed duration and be clamped: containers round
# durations (to ms, or to the last packet's end) differently from what a player shows.
DURATION_ROUNDING_S: Final = 0.005
# A start clamped back from the very end keeps this much: a GIF at a low rate needs a
# frame's worth of its own to show anything.
CLAMPED_START_TAIL_S: Final = 0.1


def fit_span(
    start: float, end: float | None, duration_s: float, frame_s: float = 0.0
) -> tuple[float, float]:
    """The range against the input's duration (floored to the millisecond), with `end`
    defaulted: refusals say what would fit.

    An end past the duration by less than one frame (`frame_s`) or the probe's rounding
    is clamped to it, and a start at the very end moves back to the video's last moments
    (a frame, at least 0.1 s): players show such times as the end (docs/operations.md)."""
    duration = math.floor(duration_s * 1000) / 1000
    if duration <= 0:
        raise BadParam(
            "",
            "the clip's length is unknown",
            "The file does not say how long it is, so a time range cannot be checked.",
            "Remux the file (e.g. convert it to mp4) and try again.",
        )
    slack = max(DURATION_ROUNDING_S, frame_s)
    if start >= duration:
        if start > duration + slack:
            raise BadParam(
                "start",
                f"must be before the clip's end, {duration:g} s",
                f"start {start:g} is at or past the end of the video ({duration:g} s).",
                f"Pick start < {duration:g}.",
            )
        start = max(0.0, round(duration - max(CLAMPED_START_TAIL_S, round(frame_s, 3)), 3))
    if end is None:
        end = min(duration, start + MAX_SPAN_S)
        if round(duration - start, 3) > MAX_SPAN_S:
            raise BadParam(
                "end",
                f"needed: the rest is over {MAX_SPAN_S:g} s",
                f"From start {start:g} to the end of the video is {duration - start:g} s; "
                f"at most {MAX_SPAN_S:g} s are allowed.",
                f"Give an end, e.g. end {end:g}.",
            )
    elif end > duration:
        if end > duration + slack:
            raise BadParam(
                "end",
                f"must be ≤ the clip's length, {duration:g} s",
                f"end {end:g} is past the video's {duration:g} s duration.",
                f"Pick end ≤ {duration:g}.",
            )
        end = duration
    if end <= start:  # a start clamped to the end, with an end asked just past it
        end = duration
    return start, end
