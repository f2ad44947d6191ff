"""What a job's result report says in a line, for the CLI and the TUI alike: the spread
of a chunked compress's chunks (their CRFs and measured quality)."""

from __future__ import annotations

from typing import Any


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _span(low: float, high: float, digits: int) -> str:
    return f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}–{high:.{digits}f}"


def chunk_spread_line(report: dict[str, Any]) -> str | None:
    """ "4 chunks: CRF 21–27, VMAF 92.1–95.3" for a chunked compress (", on 3 nodes"
    when a cluster's nodes encoded them), else None."""
    spread, chunks = report.get("chunk_spread"), report.get("chunks")
    if not isinstance(spread, dict) or not isinstance(chunks, list):
        return None
    crf_min, crf_max = _number(spread.get("crf_min")), _number(spread.get("crf_max"))
    if crf_min is None or crf_max is None:
        return None
    parts = [f"{len(chunks)} chunks: CRF {_span(crf_min, crf_max, 1)}"]
    low, high = _number(spread.get("vmaf_min")), _number(spread.get("vmaf_max"))
    if low is not None and high is not None:
        scale = "VMAF" if report.get("quality_scale", "vmaf") == "vmaf" else "VMAF (from SSIM)"
        parts.append(f"{scale} {_span(low, high, 1)}")
    chunked = report.get("chunked")
    nodes = chunked.get("nodes") if isinstance(chunked, dict) else None
    if isinstance(nodes, dict) and len(nodes) > 1:
        parts.append(f"on {len(nodes)} nodes")
    return ", ".join(parts)
