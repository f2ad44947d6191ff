"""What one chunked compress job carries through its steps (chunked_pipeline.py): its
options, its counters, and the settled facts every step reads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from app.media.capabilities import FFmpegFeatures
from app.media.compress.chunk_frames import FrameRun
from app.media.compress.chunk_manifest import ChunkManifest
from app.media.compress.chunk_runner import ChunkRunner
from app.media.compress.chunks import MAX_CHUNK_S, MIN_CHUNK_S
from app.media.compress.pipeline import SKIP_PREDICTED_RATIO, CompressRequest
from app.media.compress.plan import CompressPlan, plan_compress
from app.media.compress.progress import PhaseReport
from app.media.limits import RunLimits
from app.media.media_info import MediaInfo

# Inputs at least this long are compressed in chunks (docs/compression.md, "When to
# chunk": the measurement); shorter ones keep the one-piece search and encode.
CHUNKED_FROM_S: Final = 30.0
# Rounds of re-encoding chunks when the whole file scores under its target (only the
# chunks that fell short) or more than TARGET_BAND_VMAF over it (chunk_correction.py).
MAX_CORRECTIONS: Final = 2


# No chunk more than this far under the target (issue 19's bound). Each point of floor
# costs bytes where a scene is expensive to lift (grain): on the bench clip the floor
# at 3, 4, 5 and none gave 3.32, 2.97, 2.95 and 2.21 MB of video at VMAF 93.1–93.5
# (docs/compression.md, "When to chunk").
CHUNK_FLOOR_GAP: Final = 4.0


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    min_s: float = MIN_CHUNK_S
    max_s: float = MAX_CHUNK_S
    workers: int | None = None  # None: one per core
    floor_gap: float = CHUNK_FLOOR_GAP
    max_corrections: int = MAX_CORRECTIONS
    # Return the input without encoding when the trials predict this much of its size.
    skip_predicted_ratio: float = SKIP_PREDICTED_RATIO


@dataclass(slots=True)
class ChunkedRuns:
    """What a run did (tests and bench count encodes; a resumed run reuses)."""

    chunk_encodes: int = 0
    trial_encodes: int = 0
    chunks_reused: int = 0
    trials_reused: int = 0
    rounds: int = 0
    encode_s: float = 0.0  # wall time of the encode phase (all rounds)
    trials_s: float = 0.0  # wall time of the trials
    done_chunks: list[int] = field(default_factory=list)  # chunks encoded, in order
    encoded_in_round: list[tuple[int, int]] = field(default_factory=list)  # (round, chunk)


@dataclass(frozen=True, slots=True)
class ChunkJob:
    """What every step of one chunked job reads."""

    request: CompressRequest
    plan: CompressPlan
    limits: RunLimits
    manifest: ChunkManifest
    runs: tuple[FrameRun, ...]
    offset_s: float
    workers: int
    counters: ChunkedRuns
    report: PhaseReport
    runner: ChunkRunner


DEFAULT_OPTIONS: Final = ChunkingOptions()


def chunked_plan(
    info: MediaInfo, codec: str | None, target_vmaf: float, caps: FFmpegFeatures
) -> CompressPlan:
    """The plan of a chunked job: the one-piece plan with encodes that can be joined
    (parameter sets free of the CRF: docs/compression.md, "One set of parameter sets").
    A function of the input's probe, so any node computes the same for a trial."""
    plan = plan_compress(info, codec, target_vmaf, caps)
    return replace(plan, video=replace(plan.video, stitchable=True))
