"""The table of upload ops (SPEC §2.1); `status`, `download`, `cancel` live in requests.py."""

from __future__ import annotations

import logging
from typing import Final

from app.media.capabilities import features_of
from app.media.sandbox import ffmpeg_confinement
from app.media.upload_probe import probe_confinement
from app.server.ops.aspect import AspectOp
from app.server.ops.audio import AudioOp
from app.server.ops.base import UploadOp
from app.server.ops.compress import CompressOp
from app.server.ops.convert import ConvertOp
from app.server.ops.gif import GifOp
from app.server.ops.resize import ResizeOp
from app.server.ops.webm import WebmOp

log = logging.getLogger(__name__)
CONVERT: Final = ConvertOp()
UPLOAD_OPS: Final[dict[str, UploadOp]] = {
    op.name: op
    for op in (CompressOp(), ResizeOp(), AspectOp(), AudioOp(), GifOp(), WebmOp(), CONVERT)
}


def prepare_ops(ffmpeg: str) -> None:
    """Ask the server's FFmpeg once what it can write, and find how uploads' readers are
    confined here, saying so in the log (blocking, well under a second, at start-up)."""
    CONVERT.prepare(ffmpeg)
    features_of(ffmpeg)
    log.info(
        "media confinement: FFmpeg %s; probe %s (docs/security.md#media-threat-model)",
        ffmpeg_confinement(ffmpeg).describe(),
        probe_confinement().describe(),
    )
