"""Which FFmpeg to run: the user's choice, else the one pip installed (docs/operations.md)."""

from __future__ import annotations

import functools
import os
import shutil
from typing import Final

FFMPEG_ENV: Final = "VCS_FFMPEG"


class FFmpegNotFound(RuntimeError):
    pass


def find_ffmpeg(explicit: str | None = None) -> str:
    """`explicit` (a flag), then $VCS_FFMPEG, then imageio-ffmpeg's static build, then PATH."""
    for candidate in (explicit, os.environ.get(FFMPEG_ENV)):
        if candidate:
            path = shutil.which(candidate)
            if path is None:
                raise FFmpegNotFound(f"FFmpeg {candidate!r} is not an executable file")
            return path
    return _bundled_or_path()


@functools.cache
def _bundled_or_path() -> str:
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    path = shutil.which("ffmpeg")
    if path is None:
        raise FFmpegNotFound(
            "no FFmpeg found: install the project (pip brings imageio-ffmpeg) "
            f"or point ${FFMPEG_ENV} at an ffmpeg binary"
        )
    return path
