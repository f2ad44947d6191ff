"""What a probe tells about an input, and its JSON form (the probe runs in its own process).

The JSON comes from a process that parsed an untrusted file, so it is read strictly:
every field typed and bounded, anything else a ValueError.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Final

from app.media.colour import UNTAGGED, ColourInfo, ContentLight, DolbyVision, MasteringDisplay
from app.media.orientation import UPRIGHT, Orientation
from app.media.stream_info import StreamInfo

# Bounds on what a probe of one file may list (a file with more is not one we read).
MAX_STREAMS: Final = 1024


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """The main video stream. `width`/`height` are the coded picture's; what a viewer
    sees is geometry.square_size (orientation and sample aspect applied)."""

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
    # The stream's index in the file (`-map 0:INDEX`, `[0:INDEX]` in a filter graph).
    index: int = 0
    orientation: Orientation = UPRIGHT
    colour: ColourInfo = UNTAGGED


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
    # Every stream of the file, in order (what the ops keep, convert or drop).
    streams: tuple[StreamInfo, ...] = ()
    chapters: int = 0

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
    # asdict keeps tuples; JSON has lists (and reads them back as lists).
    converted: dict[str, Any] = json_compatible(doc)
    return converted


def json_compatible(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: json_compatible(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_compatible(item) for item in value]
    return value


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
        streams=tuple(_stream(_object(item)) for item in _list(d, "streams", MAX_STREAMS)),
        chapters=_count(d, "chapters"),
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
        index=_count(d, "index"),
        orientation=_orientation(_object(d.get("orientation"))),
        colour=_colour(_object(d.get("colour"))),
    )


def _orientation(d: dict[str, Any]) -> Orientation:
    rotation = _count(d, "rotation")
    if rotation not in (0, 90, 180, 270):
        raise ValueError("rotation")
    return Orientation(rotation, _flag(d, "mirrored"))


def _colour(d: dict[str, Any]) -> ColourInfo:
    mastering, light, dovi = d.get("mastering"), d.get("light_level"), d.get("dolby_vision")
    return ColourInfo(
        primaries=_text(d, "primaries"),
        transfer=_text(d, "transfer"),
        matrix=_text(d, "matrix"),
        range=_text(d, "range"),
        bit_depth=_count(d, "bit_depth"),
        mastering=None if mastering is None else _mastering(_object(mastering)),
        light_level=None if light is None else _light(_object(light)),
        dolby_vision=None if dovi is None else DolbyVision(_count(_object(dovi), "profile")),
    )


def _mastering(d: dict[str, Any]) -> MasteringDisplay:
    def point(key: str) -> tuple[float, float]:
        values = _list(d, key, 2)
        if len(values) != 2:
            raise ValueError(key)
        x, y = (_number({"v": v}, "v") for v in values)
        return (x, y)

    return MasteringDisplay(
        red=point("red"),
        green=point("green"),
        blue=point("blue"),
        white=point("white"),
        min_nits=_number(d, "min_nits"),
        max_nits=_number(d, "max_nits"),
    )


def _light(d: dict[str, Any]) -> ContentLight:
    return ContentLight(max_cll=_count(d, "max_cll"), max_fall=_count(d, "max_fall"))


def _stream(d: dict[str, Any]) -> StreamInfo:
    return StreamInfo(
        index=_count(d, "index"),
        kind=_text(d, "kind"),
        codec=_text(d, "codec"),
        language=_text(d, "language"),
        title=_text(d, "title"),
        dispositions=tuple(_texts(d, "dispositions")),
        channels=_count(d, "channels"),
        sample_rate=_count(d, "sample_rate"),
        bit_rate=_count_or_none(d, "bit_rate"),
        width=_count(d, "width"),
        height=_count(d, "height"),
        filename=_text(d, "filename"),
        mimetype=_text(d, "mimetype"),
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


def _flag(d: dict[str, Any], key: str) -> bool:
    value = d.get(key)
    if not isinstance(value, bool):
        raise ValueError(key)
    return value


def _list(d: dict[str, Any], key: str, most: int) -> list[Any]:
    values = d.get(key)
    if not isinstance(values, list) or len(values) > most:
        raise ValueError(key)
    return values


def _texts(d: dict[str, Any], key: str) -> list[str]:
    return [_text({"v": v}, "v") for v in _list(d, key, 1024)]
