"""The scene pass: every frame's time and how much it differs from the one before.

One FFmpeg run decodes the video at a small size through `scdet` and prints each
frame's metadata (`metadata=mode=print`): `frame:N pts:P pts_time:T` then
`lavfi.scd.score=S`. Times come from the integer `pts` in microseconds (`settb=AVTB`:
the concat demuxer's `duration` and FFmpeg's `-ss` have that resolution too), not from
`pts_time`, which FFmpeg prints with six significant digits (0.1 s steps past 10,000 s):
chunk cuts must land on exact frames.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

from app.media.demuxers import upload_input_args
from app.media.limits import RunLimits
from app.media.runner import Box, run_ffmpeg

# Scene detection on a small picture: as good at finding cuts, many times cheaper.
SCENE_PASS_WIDTH: Final = 256
# The pass's timestamps: microseconds (FFmpeg's AV_TIME_BASE).
SCENE_TIME_BASE: Final = Fraction(1, 1_000_000)
_FRAME_RE: Final = re.compile(r"frame:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:")
_SCORE_RE: Final = re.compile(r"lavfi\.scd\.score=([0-9.]+)")


@dataclass(frozen=True, slots=True)
class SceneScan:
    frame_times_s: tuple[float, ...]
    scores: dict[int, float]  # frame index → scdet score, for frames that changed
    # The first frame's time from the file's start (where `-ss 0` lands): chunk times
    # count from the first frame, seeks from the file's start.
    offset_s: float = 0.0


def scene_pass_argv(
    ffmpeg: str, src: Path, input_options: Iterable[str] = (), video_index: int | None = None
) -> list[str]:
    """Decode the main video stream small, score scene changes, print per frame."""
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-nostats",
        *input_options,
        "-i",
        str(src),
        "-map",
        "0:v:0" if video_index is None else f"0:{video_index}",
        "-an",
        "-sn",
        "-dn",
        # Frames exactly as stored (VFR kept): no duplicates, no drops.
        "-fps_mode",
        "passthrough",
        "-vf",
        f"settb=AVTB,scale={SCENE_PASS_WIDTH}:-2:flags=fast_bilinear,scdet=threshold=100,"
        "metadata=mode=print:file=-",
        "-f",
        "null",
        "-",
    ]


class SceneLog:
    """Reads the printed metadata a line at a time (FFmpeg's stdout), in order."""

    def __init__(self, time_base: Fraction) -> None:
        self._time_base = time_base
        self._times: list[float] = []
        self._scores: dict[int, float] = {}
        self._first_pts: int | None = None

    def feed_line(self, line: str) -> None:
        frame = _FRAME_RE.match(line)
        if frame is not None:
            pts = int(frame.group(2))
            if self._first_pts is None:
                self._first_pts = pts
            # Times from the first frame: chunks are cut in the stream as it plays.
            self._times.append(float((pts - self._first_pts) * self._time_base))
            return
        score = _SCORE_RE.match(line)
        if score is not None and self._times:
            value = float(score.group(1))
            if value > 0:
                self._scores[len(self._times) - 1] = value

    def result(self) -> SceneScan:
        times = self._times
        # Decoders emit frames in presentation order; a stream with a broken timeline
        # (a timestamp going back) is read as evenly spaced instead of being cut wrong.
        if any(later <= earlier for earlier, later in itertools.pairwise(times)):
            raise ValueError("frame times do not increase")
        offset = float((self._first_pts or 0) * self._time_base)
        return SceneScan(tuple(times), dict(self._scores), max(0.0, offset))

    @property
    def first_pts(self) -> int | None:
        return self._first_pts


async def scan_scenes(
    ffmpeg: str, src: Path, video_index: int, duration_s: float, limits: RunLimits
) -> SceneScan:
    """Run the scene pass on the upload `src` (in the media box, like every FFmpeg run)."""
    log = SceneLog(SCENE_TIME_BASE)
    argv = scene_pass_argv(ffmpeg, src, upload_input_args(), video_index)
    await run_ffmpeg(argv, duration_s, box=Box((src,), (), limits), on_output_line=log.feed_line)
    return log.result()
