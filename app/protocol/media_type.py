"""Media types: the file extension a payload is stored under (docs/protocol.md)."""

from __future__ import annotations

import re
from typing import Final

from app.protocol.errors import ErrorCode, RemoteProtocolError

_MEDIA_TYPE_RE: Final = re.compile(r"[a-z0-9]{1,16}", re.ASCII)


def parse_media_type(raw: bytes) -> str:
    """Decode and check a media type; it becomes a file extension, so it is strict.

    docs/protocol.md allows upper case (it is lower-cased first). We also require the raw
    bytes to be ASCII: some non-ASCII letters lower-case to ASCII (KELVIN SIGN → "k"),
    and a name that only matches after such folding is not what the peer meant.
    """
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise RemoteProtocolError(
            ErrorCode.BAD_MEDIA_TYPE,
            "The media type is not plain ASCII.",
            "Use the file's extension, letters a-z and digits only (e.g. mp4).",
        ) from None
    lowered = text.lower()
    if not _MEDIA_TYPE_RE.fullmatch(lowered):
        shown = text if text.isprintable() else repr(text)
        raise RemoteProtocolError(
            ErrorCode.BAD_MEDIA_TYPE,
            f"The media type {shown!r} is not 1-16 letters a-z or digits.",
            "Use the file's extension, letters a-z and digits only (e.g. mp4).",
        )
    return lowered


def is_valid_media_type(text: str) -> bool:
    return text.isascii() and _MEDIA_TYPE_RE.fullmatch(text.lower()) is not None
