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
    """The requested range against the input's duration (refusals say what would fit;
    an end within a frame past it is clamped, see fit_span)."""
    fps = info.video.fps if info.video is not None else 0.0
    frame_s = 1 / fps if fps > 0 else 0.0
    start, end = fit_span(float(params["start"]), params.get("end"), info.duration_s, frame_s)
    return Span(start, end)


def span_report(params: dict[str, Any], span: Span) -> dict[str, Any]:
    """The range used, and a note when it is not the one asked (clamped to the video)."""
    doc: dict[str, Any] = {"start": span.start_s, "end": span.end_s}
    asked_start, asked_end = float(params["start"]), params.get("end")
    if asked_start != span.start_s or (asked_end is not None and float(asked_end) != span.end_s):
        asked = f"{asked_start:g}..{'end' if asked_end is None else f'{float(asked_end):g}'}"
        doc["note"] = (
            f"The range {asked} s reaches past the video's end by less than a frame; "
            f"used {span.start_s:g}..{span.end_s:g} s."
        )
    return doc
