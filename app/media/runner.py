"""Running FFmpeg as a subprocess (an argument list, never a shell) with live progress."""

from __future__ import annotations

import collections
import functools
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import trio

from app.media.progress import ProgressParser
from app.protocol.errors import ErrorCode, VcsError

STDERR_LINES_KEPT: Final = 40


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
    def __init__(self, returncode: int, stderr_tail: str) -> None:
        last = stderr_tail.strip().splitlines()[-1:] or [f"exit status {returncode}"]
        if returncode < 0:  # killed by a signal: a crash, not a complaint about the input
            last = [f"it crashed (killed by {_signal_name(-returncode)})"]
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
) -> None:
    """Run FFmpeg to completion; progress is `out_time / duration_s`.

    Cancelling the caller terminates FFmpeg (trio's deliver_cancel: SIGTERM,
    then SIGKILL). A non-zero exit raises FFmpegFailed with the stderr tail.
    """
    stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
    parser = ProgressParser()
    started = time.monotonic()

    def on_stdout(line: str) -> None:
        update = parser.feed_line(line)
        if update is None or on_progress is None or duration_s <= 0:
            return
        fraction = 1.0 if update.finished else min(1.0, max(0.0, update.out_time_s / duration_s))
        elapsed = time.monotonic() - started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.001 else None
        on_progress(Progress(fraction, eta))

    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            functools.partial(
                trio.run_process,
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
            )
        )
        assert process.stdout is not None and process.stderr is not None
        nursery.start_soon(_read_lines, process.stderr, stderr_tail.append)
        await _read_lines(process.stdout, on_stdout)
    if process.returncode != 0:
        raise FFmpegFailed(process.returncode or -1, "\n".join(stderr_tail))
