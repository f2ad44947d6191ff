"""The server's side of the op table (app/protocol/ops): static checks before any payload
byte is stored, and the time range against the probed duration once the input is known.

Every op's `check_params` is the table's `parse` plus, at most, a renaming of the values
it persists with the job; what needs the file (streams, sizes) stays in the op's `run`.
"""

from __future__ import annotations

from typing import Any

from app.media.argv import Span
from app.media.probe import MediaInfo
from app.protocol.ops import UPLOAD_OPS, fit_span


def static_check(op: str, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc`'s parameters for `op`, checked and normalised by the table, or BadParam."""
    return UPLOAD_OPS[op].parse(doc)


def resolve_span(params: dict[str, Any], info: MediaInfo) -> Span:
    """The requested range against the input's duration (refusals say what would fit)."""
    start, end = fit_span(float(params["start"]), params.get("end"), info.duration_s)
    return Span(start, end)
