"""Probing a media file in-process with PyAV (FFmpeg's own demuxers and decoders)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from app.protocol.errors import ErrorCode, VcsError


@dataclass(frozen=True, slots=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float
    bit_rate: int | None
    pix_fmt: str | None
    display_aspect: Fraction | None
    frames: int | None
    # FFmpeg's name of the codec (`codec` is the decoder's: libdav1d for av1).
    codec_id: str = ""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    bit_rate: int | None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What the server needs to know about an input before it builds an FFmpeg command."""

    format_name: str
    duration_s: float
    size_bytes: int
    bit_rate: int | None
    video: VideoInfo | None
    audio: AudioInfo | None
    audio_streams: int = 0
    video_streams: int = 0
    subtitle_streams: int = 0
    # FFmpeg's codec name of every audio stream, in order (mp3, not the decoder mp3float).
    audio_codecs: tuple[str, ...] = ()

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


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
    """Open `path` with FFmpeg's demuxers; raise VcsError(UNREADABLE_MEDIA) on anything bad.

    Blocking: call it from a worker thread.
    """
    import av  # imported here: loading FFmpeg's libraries costs ~0.1 s at start-up

    size = os.stat(path).st_size
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise _unreadable(path, getattr(exc, "strerror", None) or type(exc).__name__) from None
    try:
        with container:
            return _describe(container, size)
    except (av.error.FFmpegError, ValueError, OSError, ZeroDivisionError) as exc:
        raise _unreadable(path, type(exc).__name__) from None


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
