"""The table of upload ops (SPEC §2.1); `status`, `download`, `cancel` live in requests.py."""

from __future__ import annotations

from typing import Final

from app.server.ops.base import UploadOp
from app.server.ops.compress import CompressOp

UPLOAD_OPS: Final[dict[str, UploadOp]] = {op.name: op for op in (CompressOp(),)}
