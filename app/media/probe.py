"""Probing a media file in-process with PyAV (FFmpeg's own demuxers and decoders)."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from app.media.colour import (
    MATRICES,
    PRIMARIES,
    RANGES,
    TRANSFERS,
    UNTAGGED,
    ColourInfo,
    colour_name,
    parse_content_light,
    parse_dolby_vision,
    parse_mastering_display,
)
from app.media.orientation import UPRIGHT, Orientation, parse_display_matrix
from app.media.stream_info import (
    DISPOSITIONS,
    STREAM_KINDS,
    StreamInfo,
    language_tag,
    stream_dispositions,
    title_tag,
)
from app.protocol.errors import ErrorCode, VcsError


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
    streams = tuple(_stream_info(stream) for stream in container.streams)
    longest_stream_s = 0.0
    for stream in container.streams:
        if stream.duration is not None and stream.time_base is not None:
            longest_stream_s = max(longest_stream_s, float(stream.duration * stream.time_base))
    main = _main_video(container, streams)
    video = _video_info(container, container.streams[main.index]) if main else None
    audio_streams = [s for s in streams if s.kind == "audio"]
    main_audio = next((s for s in audio_streams if s.is_default), None)
    main_audio = main_audio or (audio_streams[0] if audio_streams else None)
    audio = None
    if main_audio is not None:
        audio = AudioInfo(
            codec=container.streams[main_audio.index].codec_context.name,
            sample_rate=main_audio.sample_rate,
            channels=main_audio.channels,
            bit_rate=main_audio.bit_rate,
        )
    duration_s = container.duration / 1_000_000 if container.duration else longest_stream_s
    return MediaInfo(
        format_name=container.format.name,
        duration_s=max(0.0, float(duration_s)),
        size_bytes=size,
        bit_rate=_positive_or_none(container.bit_rate),
        video=video,
        audio=audio,
        audio_streams=len(audio_streams),
        video_streams=sum(1 for s in streams if s.kind == "video" and not s.is_cover_art),
        subtitle_streams=sum(1 for s in streams if s.kind == "subtitle"),
        audio_codecs=tuple(s.codec for s in audio_streams),
        streams=streams,
        chapters=len(container.chapters()),
    )


def _stream_info(stream: Any) -> StreamInfo:
    import av

    ctx = stream.codec_context
    metadata = dict(stream.metadata or {})
    bits = {name: int(getattr(av.stream.Disposition, name, 0)) for name in DISPOSITIONS}
    kind = stream.type if stream.type in STREAM_KINDS else "unknown"
    return StreamInfo(
        index=int(stream.index),
        kind=kind,
        codec=_codec_id(ctx) if ctx is not None else _attachment_codec(stream),
        language=language_tag(stream.language or metadata.get("language")),
        title=title_tag(metadata),
        dispositions=stream_dispositions(int(stream.disposition), bits),
        channels=int(getattr(ctx, "channels", 0) or 0) if kind == "audio" else 0,
        sample_rate=int(getattr(ctx, "sample_rate", 0) or 0) if kind == "audio" else 0,
        bit_rate=_positive_or_none(getattr(stream, "bit_rate", None)),
        width=int(getattr(ctx, "width", 0) or 0) if kind == "video" else 0,
        height=int(getattr(ctx, "height", 0) or 0) if kind == "video" else 0,
        filename=str(metadata.get("filename", ""))[:200],
        mimetype=str(metadata.get("mimetype", ""))[:100],
    )


# Matroska attachments have no codec context; FFmpeg names fonts by their MIME type.
_ATTACHMENT_CODECS: Final = {
    "application/x-truetype-font": "ttf",
    "application/x-font-ttf": "ttf",
    "font/ttf": "ttf",
    "application/vnd.ms-opentype": "otf",
    "application/x-font-opentype": "otf",
    "font/otf": "otf",
}


def _attachment_codec(stream: Any) -> str:
    mimetype = str((stream.metadata or {}).get("mimetype", "")).lower()
    return _ATTACHMENT_CODECS.get(mimetype, "bin_data")


def _main_video(container: Any, streams: tuple[StreamInfo, ...]) -> StreamInfo | None:
    """The video a player shows: the largest picture (as FFmpeg picks), a default-flagged
    one first among equals; never cover art."""
    pictures = [
        s for s in streams if s.kind == "video" and not s.is_cover_art and s.width and s.height
    ]
    if not pictures:
        return None
    return max(pictures, key=lambda s: (s.width * s.height, s.is_default, -s.index))


def _video_info(container: Any, stream: Any) -> VideoInfo:
    import av

    ctx = stream.codec_context
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    dar = stream.display_aspect_ratio
    side_data, frame = _first_frame_side_data(container, stream)
    orientation = UPRIGHT
    if (matrix := side_data.get("DISPLAYMATRIX")) is not None:
        orientation = parse_display_matrix(matrix)

    def tag(table: dict[int, str], attribute: str) -> str:
        # The stream's tags, else the first frame's (a bitstream may say what a
        # container does not).
        return colour_name(table, getattr(ctx, attribute, None)) or colour_name(
            table, getattr(frame, attribute, None)
        )

    bit_depth = 8
    with contextlib.suppress(ValueError, IndexError):
        bit_depth = int(av.VideoFormat(ctx.pix_fmt).components[0].bits) if ctx.pix_fmt else 8
    colour = ColourInfo(
        primaries=tag(PRIMARIES, "color_primaries"),
        transfer=tag(TRANSFERS, "color_trc"),
        matrix=tag(MATRICES, "colorspace"),
        range=tag(RANGES, "color_range"),
        bit_depth=bit_depth,
        mastering=parse_mastering_display(side_data.get("MASTERING_DISPLAY_METADATA", b"")),
        light_level=parse_content_light(side_data.get("CONTENT_LIGHT_LEVEL", b"")),
        dolby_vision=(
            parse_dolby_vision(side_data["DOVI_METADATA"]) if "DOVI_METADATA" in side_data else None
        ),
    )
    return VideoInfo(
        codec=ctx.name,
        width=int(ctx.width),
        height=int(ctx.height),
        fps=fps if math.isfinite(fps) else 0.0,
        bit_rate=_positive_or_none(stream.bit_rate),
        pix_fmt=ctx.pix_fmt,
        display_aspect=Fraction(dar) if dar else None,
        frames=_positive_or_none(stream.frames),
        codec_id=_codec_id(ctx),
        index=int(stream.index),
        orientation=orientation,
        colour=colour,
    )


# Packets to read for the first picture: a decoder that has none by then (a broken or
# open-GOP start) leaves the side data unknown rather than holding the probe.
FIRST_FRAME_PACKETS: Final = 64


def _first_frame_side_data(container: Any, stream: Any) -> tuple[dict[str, bytes], Any]:
    """The first decoded frame's side data by type name (display matrix, mastering
    display, content light, Dolby Vision) and the frame; ({}, None) if none decodes.

    FFmpeg (≥ 7) puts the container's stream side data on every decoded frame, so this
    one place sees what mp4 boxes, Matroska elements and SEI messages carry alike."""
    import av

    try:
        for count, packet in enumerate(container.demux(stream)):
            if count >= FIRST_FRAME_PACKETS:
                break
            for frame in packet.decode():
                found = {sd.type.name: bytes(sd) for sd in frame.side_data}
                return found, frame
        for frame in stream.decode(None):  # the decoder's delayed frames
            return {sd.type.name: bytes(sd) for sd in frame.side_data}, frame
    except (av.error.FFmpegError, ValueError, OSError, MemoryError):
        pass
    return {}, None
