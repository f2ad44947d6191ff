"""What a client can learn about a local file before uploading it (PyAV, in-process).

Enough to check a form against the clip (its duration for gif/webm ranges) and to show
what was picked; the server probes again and decides. Blocking: call from a thread.
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
    width: int | None
    height: int | None
    video_codec: str | None
    has_audio: bool

    def describe(self) -> str:
        parts = []
        if self.duration_s is not None:
            parts.append(f"{self.duration_s:.1f} s")
        if self.width and self.height:
            parts.append(f"{self.width}x{self.height}")
        if self.video_codec:
            parts.append(self.video_codec)
        if not self.has_audio:
            parts.append("no audio")
        return ", ".join(parts) or "no video or audio found"


def probe_local(path: Path) -> LocalMedia | None:
    """The file's duration and first video stream, or None if FFmpeg cannot read it."""
    import av  # loading FFmpeg's libraries takes a moment: only when first needed

    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            duration_s = container.duration / 1_000_000 if container.duration else None
            video = next(iter(container.streams.video), None)
            ctx = video.codec_context if video is not None else None
            return LocalMedia(
                duration_s=duration_s,
                width=int(ctx.width) if ctx is not None and ctx.width else None,
                height=int(ctx.height) if ctx is not None and ctx.height else None,
                video_codec=ctx.name if ctx is not None else None,
                has_audio=bool(container.streams.audio),
            )
    except (av.error.FFmpegError, ValueError, OSError):
        return None
