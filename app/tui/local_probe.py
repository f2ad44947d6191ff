"""What a client can learn about a local file before uploading it (PyAV, in-process).

Enough to check a form against the clip (its duration for gif/webm ranges) and to show
the file as a player would (the details pane: picture size with rotation applied, HDR,
every audio and subtitle track); the server probes again and decides. Blocking: call
from a thread (app/tui/probe_cache.py does, once per file version).

`probe_local` is the one place that turns FFmpeg's view of a file into `LocalMedia`.
The display matrix, colour and per-track tags are read here from PyAV directly; when
the server's probe (app/media/probe.py) carries them (issue 16: orientation, colour,
every stream with language and title), this function maps that probe instead and
nothing that shows `LocalMedia` changes.
"""

from __future__ import annotations

import contextlib
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

# Highlighted in file pickers; the server identifies media by probing, not by name.
VIDEO_EXTENSIONS: Final = frozenset(
    {"3gp", "avi", "flv", "m2ts", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts", "mxf"}
    | {"ogv", "ts", "vob", "webm", "wmv"}
)
# H.273 transfer characteristics that mean HDR (FFmpeg's AVColorTransferCharacteristic).
_PQ_TRANSFER: Final = 16  # SMPTE ST 2084: HDR10, HDR10+, Dolby Vision 8.1's base layer
_HLG_TRANSFER: Final = 18  # ARIB STD-B67: broadcast and phone HDR
# Packets read for the first picture (its side data holds the display matrix): a file
# whose start does not decode is shown without them rather than holding the probe.
_FIRST_FRAME_PACKETS: Final = 48


def looks_like_video(path: Path) -> bool:
    return path.suffix.lstrip(".").lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True, slots=True)
class Track:
    """An audio or subtitle track as a player's menu lists it."""

    kind: str  # audio, subtitle
    codec: str
    language: str = ""  # ISO 639-2 as tagged; "" when untagged or "und"
    title: str = ""
    layout: str = ""  # audio: stereo, 5.1, ...
    default: bool = False

    def describe(self) -> str:
        parts = [self.codec] + ([self.layout] if self.layout else [])
        parts.append(self.language or "no language")
        if self.title:
            parts.append(f"“{self.title}”")
        if self.default:
            parts.append("default")
        return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class LocalMedia:
    duration_s: float | None
    # As the video is shown: display matrix and sample aspect applied (a portrait phone
    # clip is 1080x1920 here, though its pixels are stored 1920x1080).
    width: int | None
    height: int | None
    video_codec: str | None
    has_audio: bool
    container: str = ""
    fps: float | None = None
    # The quarter turns a player applies, clockwise (0, 90, 180, 270).
    rotation: int = 0
    # "SDR", "HDR10", "HDR10+", "HLG", "Dolby Vision".
    dynamic_range: str = "SDR"
    bit_depth: int | None = None
    tracks: tuple[Track, ...] = ()

    @property
    def turn_text(self) -> str:
        """How a player turns the stored picture: `turned 90° left`; "" when upright."""
        turns = {90: "turned 90° right", 180: "upside down", 270: "turned 90° left"}
        return turns.get(self.rotation, f"turned {self.rotation}°") if self.rotation else ""

    @property
    def is_hdr(self) -> bool:
        return self.dynamic_range != "SDR"

    @property
    def audio_tracks(self) -> tuple[Track, ...]:
        return tuple(t for t in self.tracks if t.kind == "audio")

    @property
    def subtitle_tracks(self) -> tuple[Track, ...]:
        return tuple(t for t in self.tracks if t.kind == "subtitle")

    def describe(self) -> str:
        parts = []
        if self.duration_s is not None:
            parts.append(f"{self.duration_s:.1f} s")
        if self.width and self.height:
            parts.append(f"{self.width}x{self.height}")
        if self.rotation:
            parts.append(self.turn_text)
        if self.video_codec:
            parts.append(self.video_codec)
        if self.is_hdr:
            parts.append(self.dynamic_range)
        if not self.has_audio:
            parts.append("no audio")
        return ", ".join(parts) or "no video or audio found"


def probe_local(path: Path) -> LocalMedia | None:
    """The file as a player shows it, or None if it holds no video or audio FFmpeg reads."""
    import av  # loading FFmpeg's libraries takes a moment: only when first needed

    try:
        # `file` only: a playlist among the user's files must not make a probe go online.
        with av.open(
            str(path), mode="r", metadata_errors="ignore", options={"protocol_whitelist": "file"}
        ) as container:
            return _describe(container, path)
    except (av.error.FFmpegError, ValueError, OSError, ArithmeticError):
        return None


def _container_name(format_names: str, path: Path) -> str:
    """`mp4` for an .mp4 file, though FFmpeg's demuxer is called `mov,mp4,m4a,3gp,...`."""
    names = format_names.split(",")
    ext = path.suffix.lstrip(".").lower()
    return ext if ext in names else names[0]


def _describe(container: Any, path: Path) -> LocalMedia | None:
    # PyAV's stubs type streams generically; the attributes below exist per stream kind.
    import av

    video = next(
        (
            s
            for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic  # not cover art
        ),
        None,
    )
    tracks = tuple(
        _track(s, av.stream.Disposition.default)
        for s in container.streams
        if s.type in ("audio", "subtitle")
    )
    has_audio = any(t.kind == "audio" for t in tracks)
    if video is None and not has_audio:
        return None  # subtitles or data alone: FFmpeg reads text files as lyrics (lrc)
    media = LocalMedia(
        duration_s=container.duration / 1_000_000 if container.duration else None,
        width=None,
        height=None,
        video_codec=None,
        has_audio=has_audio,
        container=_container_name(str(container.format.name), path),
        tracks=tracks,
    )
    return _with_video(media, container, video) if video is not None else media


def _with_video(media: LocalMedia, container: Any, stream: Any) -> LocalMedia:
    import av

    ctx = stream.codec_context
    side_data, frame = _first_frame_side_data(container, stream)
    rotation = _rotation(side_data.get("DISPLAYMATRIX", b""))
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    sar = stream.sample_aspect_ratio
    if sar and sar != 1 and width:  # non-square pixels: shown wider or narrower
        width = 2 * round(width * float(sar) / 2)
    if rotation in (90, 270):
        width, height = height, width
    transfer = getattr(ctx, "color_trc", None)
    if transfer not in (_PQ_TRANSFER, _HLG_TRANSFER) and frame is not None:
        transfer = getattr(frame, "color_trc", None)  # the bitstream may say what a box does not
    if "DOVI_METADATA" in side_data or "DOVI_RPU_BUFFER" in side_data:
        dynamic_range = "Dolby Vision"
    elif transfer == _PQ_TRANSFER:
        dynamic_range = "HDR10+" if "DYNAMIC_HDR_PLUS" in side_data else "HDR10"
    elif transfer == _HLG_TRANSFER:
        dynamic_range = "HLG"
    else:
        dynamic_range = "SDR"
    bit_depth = None
    with contextlib.suppress(ValueError, IndexError):
        bit_depth = int(av.VideoFormat(ctx.pix_fmt).components[0].bits) if ctx.pix_fmt else None
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else None
    return LocalMedia(
        duration_s=media.duration_s,
        width=width or None,
        height=height or None,
        video_codec=str(getattr(ctx.codec, "canonical_name", None) or ctx.name),
        has_audio=media.has_audio,
        container=media.container,
        fps=fps if fps is not None and math.isfinite(fps) and fps > 0 else None,
        rotation=rotation,
        dynamic_range=dynamic_range,
        bit_depth=bit_depth,
        tracks=media.tracks,
    )


def _track(stream: Any, default_flag: int) -> Track:
    ctx = stream.codec_context
    metadata = dict(stream.metadata or {})
    language = str(stream.language or metadata.get("language") or "").strip().lower()
    title = next((metadata[k] for k in ("title", "name", "TITLE") if metadata.get(k)), "")
    layout = ""
    if stream.type == "audio" and ctx is not None and getattr(ctx, "layout", None) is not None:
        layout = str(ctx.layout.name)
    codec = getattr(getattr(ctx, "codec", None), "canonical_name", None) if ctx else None
    return Track(
        kind=str(stream.type),
        codec=str(codec or (ctx.name if ctx else "?")),
        language="" if language == "und" else language[:16],
        title=str(title).strip()[:80],
        layout=layout,
        default=bool(stream.disposition & default_flag),
    )


def _first_frame_side_data(container: Any, stream: Any) -> tuple[dict[str, bytes], Any]:
    """The first decoded picture's side data by type name, and the picture (FFmpeg puts
    the container's display matrix on every decoded frame); ({}, None) if none decodes."""
    import av

    try:
        for count, packet in enumerate(container.demux(stream)):
            if count >= _FIRST_FRAME_PACKETS:
                break
            for frame in packet.decode():
                return {sd.type.name: bytes(sd) for sd in frame.side_data}, frame
    except (av.error.FFmpegError, ValueError, OSError, MemoryError):
        pass
    return {}, None


def _rotation(matrix: bytes) -> int:
    """The clockwise quarter turn a display matrix (nine native 32-bit ints) asks for,
    read as FFmpeg's autorotation reads it; 0 for anything else."""
    if len(matrix) != 36:
        return 0
    a, b, _, c, d, *_ = struct.unpack("=9i", matrix)
    scale_x, scale_y = math.hypot(a, c), math.hypot(b, d)
    if not scale_x or not scale_y:
        return 0
    clockwise = math.degrees(math.atan2(b / scale_y, a / scale_x))
    return 90 * (round((clockwise % 360) / 90) % 4)
