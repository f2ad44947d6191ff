"""Running FFmpeg as a subprocess (an argument list, never a shell) in its box, with progress.

Every run names the files it reads and writes and its limits (`Box`); sandbox.py turns
that into bubblewrap and prlimit, and a run past a limit fails with the limit's own
error: `result_too_large` for a file past its size, `media_too_large` for memory.
"""

from __future__ import annotations

import collections
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import trio

from app.media.demuxers import REFUSED_MESSAGE, check_input_args, format_not_allowed
from app.media.limits import MiB, RunLimits, media_too_large
from app.media.progress import ProgressParser
from app.media.sandbox import Confinement, boxed, ffmpeg_confinement
from app.protocol.errors import ErrorCode, VcsError

STDERR_LINES_KEPT: Final = 40
# How FFmpeg and its libraries say an allocation failed (x264: "malloc of size N failed").
_OUT_OF_MEMORY: Final = ("Cannot allocate memory", "malloc of size", "bad_alloc", "out of memory")
# Signals a crash or a limit sends; bubblewrap reports them as 128 + N, which FFmpeg's own
# statuses can also be (255 - errno: 145 is ECONNREFUSED), so a status counts as a
# signal only when FFmpeg said nothing: its own errors always come with a message.
_CRASH_SIGNALS: Final = frozenset(
    {
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGILL,
        signal.SIGFPE,
        signal.SIGABRT,
        signal.SIGKILL,
        signal.SIGXCPU,
        signal.SIGXFSZ,
    }
)


class StderrWatch:
    """FFmpeg's stderr: the last lines for the error message, and whether it said, at any
    point, that an allocation failed or the input's format was refused (those lines
    come first and can scroll out of the tail behind each thread's goodbye)."""

    def __init__(self) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self.out_of_memory = False
        self.format_refused = False

    def line(self, text: str) -> None:
        self.tail.append(text)
        self.out_of_memory = self.out_of_memory or any(s in text for s in _OUT_OF_MEMORY)
        self.format_refused = self.format_refused or REFUSED_MESSAGE in text

    @property
    def text(self) -> str:
        return "\n".join(self.tail)


@dataclass(frozen=True, slots=True)
class Box:
    """What one FFmpeg run may touch: files it reads, files it writes, and its limits."""

    reads: tuple[Path, ...]
    writes: tuple[Path, ...]
    limits: RunLimits


@dataclass(frozen=True, slots=True)
class Progress:
    fraction: float  # 0..1
    eta_s: float | None


ProgressCallback = Callable[[Progress], None]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class FFmpegFailed(VcsError):
    def __init__(self, returncode: int, stderr_tail: str, signal_number: int | None) -> None:
        last = stderr_tail.strip().splitlines()[-1:] or [f"exit status {returncode}"]
        if signal_number is not None:  # a crash, not a complaint about the input
            last = [f"it crashed (killed by {_signal_name(signal_number)})"]
        super().__init__(
            ErrorCode.FFMPEG_FAILED,
            f"FFmpeg failed: {last[0][:300]}",
            "Check that the input plays locally; if it does, report the job id to the operator.",
        )
        self.returncode = returncode
        self.stderr_tail = stderr_tail


async def _read_lines(stream: trio.abc.ReceiveStream, on_line: Callable[[str], None]) -> None:
    pending = b""
    async for data in stream:
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            on_line(line.decode("utf-8", "replace"))
        if len(pending) > 64 * 1024:  # a runaway line: keep the tail only
            pending = pending[-4096:]
    if pending:
        on_line(pending.decode("utf-8", "replace"))


async def run_ffmpeg(
    argv: Sequence[str],
    duration_s: float,
    on_progress: ProgressCallback | None = None,
    *,
    box: Box,
    on_output_line: Callable[[str], None] | None = None,
) -> None:
    """Run FFmpeg to completion in `box`; progress is `out_time / duration_s`.
    `on_output_line` gets every line FFmpeg writes to its stdout (a filter's or a
    muxer's `-` output; the progress lines among them too).

    Cancelling the caller terminates FFmpeg (trio's deliver_cancel: SIGTERM, then
    SIGKILL; in bubblewrap the box dies with it). A non-zero exit raises the error of
    the limit it hit, else FFmpegFailed with the stderr tail.
    """
    check_input_args(list(argv))
    confinement = await trio.to_thread.run_sync(ffmpeg_confinement, argv[0])
    stderr = StderrWatch()
    parser = ProgressParser()
    started = time.monotonic()

    def on_stdout(line: str) -> None:
        if on_output_line is not None:
            on_output_line(line)
        update = parser.feed_line(line)
        if update is None or on_progress is None or duration_s <= 0:
            return
        fraction = 1.0 if update.finished else min(1.0, max(0.0, update.out_time_s / duration_s))
        elapsed = time.monotonic() - started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.001 else None
        on_progress(Progress(fraction, eta))

    with boxed(
        confinement,
        argv,
        programs=(Path(argv[0]),),
        reads=box.reads,
        writes=box.writes,
        limits=box.limits,
    ) as launch:
        async with trio.open_nursery() as nursery:
            process = await launch.start(nursery)
            assert process.stdout is not None and process.stderr is not None
            nursery.start_soon(_read_lines, process.stderr, stderr.line)
            await _read_lines(process.stdout, on_stdout)
    if process.returncode != 0:
        raise run_failure(process.returncode or -1, stderr, box, confinement)


def run_failure(
    returncode: int, stderr: StderrWatch, box: Box, confinement: Confinement
) -> VcsError:
    """The error of a failed run: the limit it hit, or FFmpeg's own complaint."""
    signal_number: int | None = None
    if returncode < 0:
        signal_number = -returncode
    elif (
        confinement.bwrap is not None
        and returncode - 128 in _CRASH_SIGNALS
        and not stderr.text.strip()
    ):
        signal_number = returncode - 128
    for path in box.writes:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size >= box.limits.file_bytes or signal_number == signal.SIGXFSZ:
            return VcsError(
                ErrorCode.RESULT_TOO_LARGE,
                f"FFmpeg's output passed {box.limits.file_bytes // MiB} MiB, the most this "
                "job may write, and was stopped.",
                "Pick settings that make a smaller result (a shorter span, a smaller size, "
                "a container that copies the streams).",
            )
    if stderr.format_refused:
        return format_not_allowed("in a format this server does not read")
    if stderr.out_of_memory:
        return media_too_large(
            f"FFmpeg needed more than {box.limits.memory_bytes // MiB} MiB of memory for "
            "this input and was stopped.",
            "Upload a smaller video (fewer pixels per frame), or ask the operator to raise "
            "--ffmpeg-memory.",
        )
    if signal_number == signal.SIGXCPU:
        return VcsError(
            ErrorCode.TIMEOUT,
            f"FFmpeg used its {box.limits.cpu_s} s of CPU time and was stopped.",
            "Try a shorter clip, or ask the operator to raise --job-timeout.",
        )
    return FFmpegFailed(returncode, stderr.text, signal_number)
