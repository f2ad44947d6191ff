"""Probing a media file with PyAV (FFmpeg's own demuxers and decoders).

On the server this runs in its own process (probe_process.py, started by upload_probe.py)
with the demuxer allowlist and the decoders' pixel cap of demuxers.py: an upload that
is a playlist, or whose frames are too large, is refused with its own code here, before
any decoder allocates a frame.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from app.media.colour import (
    MATRICES,
    PRIMARIES,
    RANGES,
    TRANSFERS,
    ColourInfo,
    colour_name,
    parse_content_light,
    parse_dolby_vision,
    parse_mastering_display,
)
from app.media.demuxers import (
    REFUSED_MESSAGE,
    describe_refused,
    format_not_allowed,
    pyav_container_options,
    referring_format,
)
from app.media.limits import MAX_FRAME_PIXELS, frame_too_large
from app.media.media_info import AudioInfo, MediaInfo, VideoInfo
from app.media.orientation import UPRIGHT, parse_display_matrix
from app.media.stream_info import (
    DISPOSITIONS,
    STREAM_KINDS,
    StreamInfo,
    language_tag,
    stream_dispositions,
    title_tag,
)
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
