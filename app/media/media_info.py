"""What a probe tells about an input, and its JSON form (the probe runs in its own process).

The JSON comes from a process that parsed an untrusted file, so it is read strictly:
every field typed and bounded, anything else a ValueError.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any


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


def media_info_to_json(info: MediaInfo) -> dict[str, Any]:
    doc = asdict(info)
    if info.video is not None and info.video.display_aspect is not None:
        dar = info.video.display_aspect
        doc["video"]["display_aspect"] = [dar.numerator, dar.denominator]
    doc["audio_codecs"] = list(info.audio_codecs)
    return doc


def media_info_from_json(doc: object) -> MediaInfo:
    """The MediaInfo in `doc`; ValueError if any field is missing or of the wrong kind."""
    d = _object(doc)
    video = d.get("video")
    audio = d.get("audio")
    return MediaInfo(
        format_name=_text(d, "format_name"),
        duration_s=_number(d, "duration_s"),
        size_bytes=_count(d, "size_bytes"),
        bit_rate=_count_or_none(d, "bit_rate"),
        video=None if video is None else _video(_object(video)),
        audio=None if audio is None else _audio(_object(audio)),
        audio_streams=_count(d, "audio_streams"),
        video_streams=_count(d, "video_streams"),
        subtitle_streams=_count(d, "subtitle_streams"),
        audio_codecs=tuple(_texts(d, "audio_codecs")),
    )


def _video(d: dict[str, Any]) -> VideoInfo:
    dar = d.get("display_aspect")
    aspect = None
    if dar is not None:
        if not (isinstance(dar, list) and len(dar) == 2 and all(_is_count(x) for x in dar)):
            raise ValueError("display_aspect")
        if dar[1] == 0:
            raise ValueError("display_aspect")
        aspect = Fraction(dar[0], dar[1])
    return VideoInfo(
        codec=_text(d, "codec"),
        width=_count(d, "width"),
        height=_count(d, "height"),
        fps=_number(d, "fps"),
        bit_rate=_count_or_none(d, "bit_rate"),
        pix_fmt=None if d.get("pix_fmt") is None else _text(d, "pix_fmt"),
        display_aspect=aspect,
        frames=_count_or_none(d, "frames"),
        codec_id=_text(d, "codec_id"),
    )


def _audio(d: dict[str, Any]) -> AudioInfo:
    return AudioInfo(
        codec=_text(d, "codec"),
        sample_rate=_count(d, "sample_rate"),
        channels=_count(d, "channels"),
        bit_rate=_count_or_none(d, "bit_rate"),
    )


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 63


def _count(d: dict[str, Any], key: str) -> int:
    value = d.get(key)
    if not _is_count(value):
        raise ValueError(key)
    assert isinstance(value, int)
    return value


def _count_or_none(d: dict[str, Any], key: str) -> int | None:
    return None if d.get(key) is None else _count(d, key)


def _number(d: dict[str, Any], key: str) -> float:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(key)
    if not math.isfinite(value) or value < 0:
        raise ValueError(key)
    return float(value)


def _text(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str) or len(value) > 256:
        raise ValueError(key)
    return value


def _texts(d: dict[str, Any], key: str) -> list[str]:
    values = d.get(key)
    if not isinstance(values, list) or len(values) > 1024:
        raise ValueError(key)
    return [_text({"v": v}, "v") for v in values]
