"""The table of upload ops (SPEC §2.1); `status`, `download`, `cancel` live in requests.py."""

from __future__ import annotations

from typing import Final

from app.media.capabilities import features_of
from app.server.ops.aspect import AspectOp
from app.server.ops.audio import AudioOp
from app.server.ops.base import UploadOp
from app.server.ops.compress import CompressOp
from app.server.ops.convert import ConvertOp
from app.server.ops.gif import GifOp
from app.server.ops.resize import ResizeOp
from app.server.ops.webm import WebmOp

CONVERT: Final = ConvertOp()
UPLOAD_OPS: Final[dict[str, UploadOp]] = {
    op.name: op
    for op in (CompressOp(), ResizeOp(), AspectOp(), AudioOp(), GifOp(), WebmOp(), CONVERT)
}


def prepare_ops(ffmpeg: str) -> None:
    """Ask the server's FFmpeg once what it can write (blocking, ~50 ms, at start-up)."""
    CONVERT.prepare(ffmpeg)
    features_of(ffmpeg)
