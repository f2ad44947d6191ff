"""Where the input's keyframes are, near given times: found by seeking, without decoding.

A sample starting mid-GOP makes FFmpeg decode from the keyframe before it and throw
those frames away: with a 10 s GOP and a heavy source (grain at 20 Mb/s) that doubled
the cost of every try of the CRF search. Samples therefore start on keyframes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.media.demuxers import pyav_container_options
from app.media.limits import MAX_FRAME_PIXELS


def keyframes_before(path: Path, times_s: Sequence[float]) -> list[float | None]:
    """For each time (seconds from the start, as FFmpeg's `-ss` counts), the time of the
    last video keyframe at or before it, or None where the container cannot tell.

    Blocking, and it reads the upload: the server runs it in the probe process
    (upload_probe.keyframes_near), with the upload's allowlist.
    """
    import av

    found: list[float | None] = []
    try:
        with av.open(
            str(path),
            metadata_errors="ignore",
            options={"max_pixels": str(MAX_FRAME_PIXELS)},
            container_options=pyav_container_options(),
        ) as container:
            stream = container.streams.video[0]
            if stream.time_base is None:
                return [None] * len(times_s)
            # `-ss` counts from the file's start time, not the stream's.
            origin_s = (container.start_time or 0) / 1_000_000
            for t in times_s:
                found.append(_keyframe_at_or_before(container, stream, t + origin_s, origin_s))
    except (av.error.FFmpegError, ValueError, OSError, IndexError):
        return [None] * len(times_s)
    return found


def _keyframe_at_or_before(
    container: Any, stream: Any, at_s: float, origin_s: float
) -> float | None:
    container.seek(int(at_s / stream.time_base), stream=stream, backward=True, any_frame=False)
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        if not packet.is_keyframe:
            return None  # this demuxer does not land on keyframes: no help here
        when = float(packet.pts * stream.time_base)
        return when - origin_s if when <= at_s + 1e-6 else None
    return None
