"""What a client can learn about a local file before uploading it (PyAV, in-process).

Enough to check a form against the clip (its duration for gif/webm ranges) and to show
what was picked; the server probes again and decides. The user's own file is read in the
client's process, but with the server's demuxer allowlist (app/media/demuxers.py): what
the server would refuse is not described here either. Blocking: call from a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

# Highlighted in file pickers; the server identifies media by probing, not by name.
VIDEO_EXTENSIONS: Final = frozenset(
    {"3gp", "avi", "flv", "m2ts", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts", "mxf"}
    | {"ogv", "ts", "vob", "webm", "wmv"}
)


def looks_like_video(path: Path) -> bool:
    return path.suffix.lstrip(".").lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True, slots=True)
class LocalMedia:
    duration_s: float | None
    # As the video is shown: display matrix and sample aspect applied (a portrait phone
    # clip is 1080x1920 here, though its pixels are stored 1920x1080).
    width: int | None
    height: int | None
    video_codec: str | None
    has_audio: bool
    orientation: str = "upright"
    colour: str = "SDR"
    fps: float = 0.0

    def describe(self) -> str:
        parts = []
        if self.duration_s is not None:
            parts.append(f"{self.duration_s:.1f} s")
        if self.width and self.height:
            parts.append(f"{self.width}x{self.height}")
        if self.orientation != "upright":
            parts.append(self.orientation)
        if self.video_codec:
            parts.append(self.video_codec)
        if self.colour != "SDR":
            parts.append(self.colour)
        if not self.has_audio:
            parts.append("no audio")
        return ", ".join(parts) or "no video or audio found"


def probe_local(path: Path) -> LocalMedia | None:
    """The file's duration and main video stream as a player shows it, or None if FFmpeg
    cannot read it (the server's own probe, app/media/probe.py, run here)."""
    from app.media.geometry import square_size
    from app.media.probe import probe_media
    from app.protocol.errors import VcsError

    try:
        info = probe_media(path)
    except (VcsError, OSError):
        return None
    video = info.video
    shown = square_size(video) if video is not None else None
    return LocalMedia(
        duration_s=info.duration_s or None,
        width=shown.width if shown else None,
        height=shown.height if shown else None,
        video_codec=video.codec if video is not None else None,
        has_audio=info.has_audio,
        orientation=video.orientation.describe() if video is not None else "upright",
        colour=video.colour.describe() if video is not None else "SDR",
        fps=video.fps if video is not None else 0.0,
    )
