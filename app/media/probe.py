"""Probing a media file with PyAV (FFmpeg's own demuxers and decoders).

On the server this runs in its own process (probe_process.py, started by upload_probe.py)
with the demuxer allowlist and the decoders' pixel cap of demuxers.py: an upload that
is a playlist, or whose frames are too large, is refused with its own code here, before
any decoder allocates a frame.
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from app.media.demuxers import (
    REFUSED_MESSAGE,
    describe_refused,
    format_not_allowed,
    pyav_container_options,
    referring_format,
)
from app.media.limits import MAX_FRAME_PIXELS, frame_too_large
from app.media.media_info import AudioInfo, MediaInfo, VideoInfo
from app.protocol.errors import ErrorCode, VcsError

__all__ = ["AudioInfo", "MediaInfo", "VideoInfo", "probe_media"]

# What FFmpeg logs when a decoder refuses a frame over its `max_pixels`.
_OVER_PIXEL_CAP: Final = re.compile(r"Picture size (\d+)x(\d+) (?:exceeds|is invalid)")
_HEAD_BYTES: Final = 64


def _unreadable(path: Path, why: str) -> VcsError:
    return VcsError(
        ErrorCode.UNREADABLE_MEDIA,
        f"FFmpeg cannot read the uploaded file as media ({why}).",
        "Upload a complete video file in a format FFmpeg supports (mp4, mkv, mov, webm, "
        "avi, ...); check that the file plays locally.",
    )


def _positive_or_none(value: object) -> int | None:
    if isinstance(value, int) and value > 0:
        return value
    return None


def _codec_id(ctx: Any) -> str:
    """The codec's canonical name (`mp3`), not its decoder's (`mp3float`)."""
    codec = getattr(ctx, "codec", None)
    return str(getattr(codec, "canonical_name", None) or getattr(ctx, "name", None) or "")


def probe_media(path: Path) -> MediaInfo:
    """Open `path` as an upload (the allowlist, `file` only, the pixel cap) and describe it.

    Raises VcsError: FORMAT_NOT_ALLOWED (a playlist, a list, any demuxer outside the
    allowlist), MEDIA_TOO_LARGE (a frame over the pixel cap), UNREADABLE_MEDIA (anything
    else FFmpeg cannot read). Blocking, and it reads untrusted bytes: the server calls
    it only in the probe process.
    """
    import av  # imported here: loading FFmpeg's libraries costs ~0.1 s at start-up
    import av.logging

    size = os.stat(path).st_size
    # FFmpeg's log says which demuxer was refused and which frame was too large.
    av.logging.set_level(av.logging.ERROR)
    with av.logging.Capture() as logs:
        try:
            container = av.open(
                str(path),
                mode="r",
                metadata_errors="ignore",
                options={"max_pixels": str(MAX_FRAME_PIXELS)},
                container_options=pyav_container_options(),
            )
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            _raise_refusal(path, logs)
            if named := referring_format(_head(path)):
                raise format_not_allowed(named) from None
            raise _unreadable(path, getattr(exc, "strerror", None) or type(exc).__name__) from None
    try:
        with container:
            _raise_refusal(path, logs)
            return _describe(container, size)
    except (av.error.FFmpegError, ValueError, OSError, ZeroDivisionError) as exc:
        raise _unreadable(path, type(exc).__name__) from None


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD_BYTES)
    except OSError:
        return b""


def _raise_refusal(path: Path, logs: list[tuple[int, str, str]]) -> None:
    for _level, name, message in logs:
        if message.startswith(REFUSED_MESSAGE):
            raise format_not_allowed(describe_refused(_head(path), name or None))
        if found := _OVER_PIXEL_CAP.search(message):
            raise frame_too_large(int(found[1]), int(found[2]))


def _describe(container: Any, size: int) -> MediaInfo:
    # PyAV's stubs type streams generically; the attributes below exist per stream kind.
    import av

    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    counts = {"video": 0, "audio": 0, "subtitle": 0}
    longest_stream_s = 0.0
    audio_codecs: list[str] = []
    for stream in container.streams:
        kind = stream.type
        if kind in counts:
            counts[kind] += 1
        if stream.duration is not None and stream.time_base is not None:
            longest_stream_s = max(longest_stream_s, float(stream.duration * stream.time_base))
        ctx = stream.codec_context
        if kind == "audio":
            audio_codecs.append(_codec_id(ctx))
        if kind == "video" and video is None and ctx.width and ctx.height:
            # Attached pictures (cover art) are video streams with one frame: skip them.
            if stream.disposition & av.stream.Disposition.attached_pic:
                counts["video"] -= 1
                continue
            rate = stream.average_rate or stream.base_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            dar = stream.display_aspect_ratio
            video = VideoInfo(
                codec=ctx.name,
                width=int(ctx.width),
                height=int(ctx.height),
                fps=fps if math.isfinite(fps) else 0.0,
                bit_rate=_positive_or_none(stream.bit_rate),
                pix_fmt=ctx.pix_fmt,
                display_aspect=Fraction(dar) if dar else None,
                frames=_positive_or_none(stream.frames),
                codec_id=_codec_id(ctx),
            )
        elif kind == "audio" and audio is None:
            audio = AudioInfo(
                codec=ctx.name,
                sample_rate=int(ctx.sample_rate or 0),
                channels=int(ctx.channels or 0),
                bit_rate=_positive_or_none(stream.bit_rate),
            )
    duration_s = container.duration / 1_000_000 if container.duration else longest_stream_s
    return MediaInfo(
        format_name=container.format.name,
        duration_s=max(0.0, float(duration_s)),
        size_bytes=size,
        bit_rate=_positive_or_none(container.bit_rate),
        video=video,
        audio=audio,
        audio_streams=counts["audio"],
        video_streams=counts["video"],
        subtitle_streams=counts["subtitle"],
        audio_codecs=tuple(audio_codecs),
    )
