"""What every upload op provides: static parameter checks and a run on a probed input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.media.compress.chunk_runner import ChunkRunner
from app.media.limits import DEFAULT_LIMITS, MediaLimits
from app.media.media_info import MediaInfo
from app.media.runner import Box, Progress
from app.protocol.errors import ErrorCode, VcsError


@dataclass(frozen=True, slots=True)
class OpContext:
    """Everything an op may use while it runs; it writes only to `output_path`."""

    ffmpeg: str
    input_path: Path
    input_media_type: str
    info: MediaInfo
    params: dict[str, Any]
    output_path: Path
    # Output larger than this is cut off by FFmpeg (`-fs`) and fails the job.
    output_limit_bytes: int
    on_progress: Callable[[Progress, str], None]
    # Caps and rlimits of the job's media work (ServerConfig.media_limits).
    limits: MediaLimits = DEFAULT_LIMITS
    # The job's own directory on this node, kept between its runs here (a restart
    # resumes from it); None: the op keeps nothing between runs.
    job_dir: Path | None = None
    # Who encodes a chunked compress's chunks: None, this process; in a cluster, the
    # work queue (app/server/chunk_queue.py).
    chunk_runner: ChunkRunner | None = None

    def box(self, *, reads: tuple[Path, ...] = (), writes: tuple[Path, ...] = ()) -> Box:
        """The box of one FFmpeg run on the input, writing the output (and `writes`)."""
        return Box(
            reads=(self.input_path, *reads),
            writes=(self.output_path, *writes),
            limits=self.limits.for_ffmpeg(self.info, self.output_limit_bytes),
        )


@dataclass(frozen=True, slots=True)
class OpOutcome:
    media_type: str
    # True: the result is the input itself (e.g. compression could not beat it).
    reuse_input: bool = False
    report: dict[str, Any] = field(default_factory=dict)


class UploadOp(Protocol):
    name: str

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Validate the request's parameters before any payload byte is stored."""
        ...

    def output_allowance(self, input_size: int) -> int:
        """Quota to reserve for the result before FFmpeg starts."""
        ...

    async def run(self, ctx: OpContext) -> OpOutcome: ...


def bad_params(description: str, solution: str) -> VcsError:
    return VcsError(ErrorCode.BAD_PARAMS, description, solution)


def require_video(info: MediaInfo) -> None:
    if info.video is None:
        raise VcsError(
            ErrorCode.NO_VIDEO,
            "The uploaded file has no video stream.",
            "Upload a video file; for audio-only files use an audio tool.",
        )


def require_audio(info: MediaInfo) -> None:
    if info.audio is None:
        raise VcsError(
            ErrorCode.NO_AUDIO,
            "The uploaded file has no audio stream.",
            "Upload a file with a sound track (a local player shows whether it has one).",
        )
