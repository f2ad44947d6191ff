"""What a chunked compress job's report adds: each chunk's span, CRF, predicted and
measured quality and size, the spread over the chunks, and what the run did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from app.media.compress.allocation import RatePoint
from app.media.compress.chunk_encode import EncodedChunk
from app.media.compress.chunk_runner import ChunkRunner
from app.media.compress.chunks import Chunk
from app.media.compress.plan import CompressPlan, format_crf

if TYPE_CHECKING:
    from app.media.compress.chunk_job import ChunkedRuns


def chunks_fields(
    chunks: Sequence[Chunk],
    picks: Sequence[RatePoint],
    measured: Sequence[float | None],
    encoded: Sequence[EncodedChunk],
    plan: CompressPlan,
) -> dict[str, Any]:
    """`chunks`: one row per chunk; `chunk_spread`: the range of their CRFs and scores.
    Scores are on the VMAF scale (with the SSIM fallback: the VMAF the SSIM stands for)."""
    rows = [
        {
            "index": chunk.index,
            "start_s": round(chunk.start_s, 3),
            "end_s": round(chunk.end_s, 3),
            "frames": chunk.frame_count,
            "crf": float(format_crf(pick.crf)),
            "predicted_vmaf": round(pick.vmaf, 2),
            "vmaf": None if got is None else round(got, 2),
            "bytes": done.size_bytes,
            **({"node": done.node} if done.node else {}),
        }
        for chunk, pick, got, done in zip(chunks, picks, measured, encoded, strict=True)
    ]
    crfs = [float(format_crf(pick.crf)) for pick in picks]
    scores = [round(got, 2) for got in measured if got is not None]
    spread: dict[str, Any] = {"crf_min": min(crfs), "crf_max": max(crfs)}
    if scores:
        spread |= {"vmaf_min": min(scores), "vmaf_max": max(scores)}
    return {"chunks": rows, "chunk_spread": spread, "quality_scale": str(plan.target.metric)}


def chunked_fields(
    counters: ChunkedRuns,
    chunk_count: int,
    workers: int,
    runner: ChunkRunner,
    encoded: Sequence[EncodedChunk] = (),
) -> dict[str, Any]:
    """What the run did (and what its runner says: a work queue's counts and times);
    with the result's chunks, where they were encoded (`nodes`: chunks per cluster
    node) and how long each encode took (`encode_s`)."""
    fields: dict[str, Any] = {
        "chunks": chunk_count,
        "workers": workers,
        "chunk_encodes": counters.chunk_encodes,
        "chunks_reused": counters.chunks_reused,
        "trial_encodes": counters.trial_encodes,
        "trials_reused": counters.trials_reused,
        "rounds": counters.rounds,
        **runner.report(),
    }
    if encoded:
        times = [c.encode_s for c in encoded]
        fields["encode_s"] = {"min": min(times), "max": max(times), "sum": round(sum(times), 2)}
    if nodes := Counter(c.node for c in encoded if c.node):
        fields["nodes"] = dict(sorted(nodes.items()))
    return {"chunked": fields}
