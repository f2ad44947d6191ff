"""What a client can learn about a local file before uploading it (in-process).

Enough to check a form against the clip (its duration for gif/webm ranges) and to show
the file as a player would (the details pane: picture size with rotation applied, HDR,
every audio and subtitle track); the server probes again and decides. The file is read
with the server's own probe (app/media/probe.py) and its demuxer allowlist
(app/media/demuxers.py): what the server would refuse is not described here either.
Blocking: call from a thread (app/tui/probe_cache.py does, once per file version).

`probe_local` is the one place that turns the probe's `MediaInfo` into `LocalMedia`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from app.media.media_info import VideoInfo
    from app.media.stream_info import StreamInfo

# Highlighted in file pickers; the server identifies media by probing, not by name.
VIDEO_EXTENSIONS: Final = frozenset(
    {"3gp", "avi", "flv", "m2ts", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts", "mxf"}
    | {"ogv", "ts", "vob", "webm", "wmv"}
)


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
    mirrored: bool = False
    # As ColourInfo.describe says it: "SDR", "HDR10", "HLG", "Dolby Vision 8 (HLG base layer)".
    dynamic_range: str = "SDR"
    bit_depth: int | None = None
    tracks: tuple[Track, ...] = ()

    @property
    def turn_text(self) -> str:
        """How a player turns the stored picture: `turned 90° left`; "" when upright."""
        turns = {90: "turned 90° right", 180: "upside down", 270: "turned 90° left"}
        turn = turns.get(self.rotation, f"turned {self.rotation}°") if self.rotation else ""
        return ", ".join(p for p in (turn, "mirrored" if self.mirrored else "") if p)

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
        if self.turn_text:
            parts.append(self.turn_text)
        if self.video_codec:
            parts.append(self.video_codec)
        if self.is_hdr:
            parts.append(self.dynamic_range)
        if not self.has_audio:
            parts.append("no audio")
        return ", ".join(parts) or "no video or audio found"


def probe_local(path: Path) -> LocalMedia | None:
    """The file as a player shows it, or None if it holds no video or audio the server's
    probe reads (or the allowlist refuses it)."""
    from app.media.probe import probe_media
    from app.protocol.errors import VcsError

    try:
        info = probe_media(path)
    except (VcsError, OSError):
        return None
    tracks = tuple(_track(s) for s in info.streams if s.kind in ("audio", "subtitle"))
    has_audio = info.has_audio or any(t.kind == "audio" for t in tracks)
    if info.video is None and not has_audio:
        return None  # subtitles or data alone: FFmpeg reads text files as lyrics (lrc)
    media = LocalMedia(
        duration_s=info.duration_s or None,
        width=None,
        height=None,
        video_codec=None,
        has_audio=has_audio,
        container=_container_name(info.format_name, path),
        tracks=tracks,
    )
    return _with_video(media, info.video) if info.video is not None else media


def _container_name(format_names: str, path: Path) -> str:
    """`mp4` for an .mp4 file, though FFmpeg's demuxer is called `mov,mp4,m4a,3gp,...`."""
    names = format_names.split(",")
    ext = path.suffix.lstrip(".").lower()
    return ext if ext in names else names[0]


def _with_video(media: LocalMedia, video: VideoInfo) -> LocalMedia:
    from app.media.geometry import square_size
    from app.protocol.errors import VcsError

    try:
        shown = square_size(video)
    except VcsError:  # a picture with no sides
        shown = None
    colour = video.colour
    return dataclasses.replace(
        media,
        width=shown.width if shown else None,
        height=shown.height if shown else None,
        video_codec=video.codec,
        fps=video.fps if math.isfinite(video.fps) and video.fps > 0 else None,
        rotation=video.orientation.rotation,
        mirrored=video.orientation.mirrored,
        dynamic_range=colour.describe(),
        bit_depth=colour.bit_depth or None,
    )


# Channel counts a player's audio menu names.
_LAYOUTS: Final = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}


def _track(stream: StreamInfo) -> Track:
    layout = ""
    if stream.kind == "audio" and stream.channels:
        layout = _LAYOUTS.get(stream.channels, f"{stream.channels} channels")
    return Track(
        kind=stream.kind,
        codec=stream.codec,
        language=stream.language[:16],
        title=stream.title.strip()[:80],
        layout=layout,
        default=stream.is_default,
    )
