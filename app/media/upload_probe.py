"""Probing an upload out of the server's process: killable, boxed, on its own limiter.

The probe (PyAV, FFmpeg's libraries) parses untrusted bytes. In a worker thread it could
not be stopped (a live HLS playlist made it wait forever, holding its thread and the job's
slot) and a decoder's allocation landed in the server's own memory (a 16000x16000 PNG
took the daemon to 2 GB). Here it runs as `python -m app.media.probe_process` in the box
of sandbox.py, with rlimits, a wall-time limit, and `trio.run_process`: cancelling the
caller (`cancel`, the job timeout, SIGTERM) kills it. It waits on a limiter of its own,
never on the thread limiter the RSA handshake shares.
"""

from __future__ import annotations

import collections
import functools
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import trio

import app
from app.media.limits import DEFAULT_LIMITS, MediaLimits, check_frames
from app.media.media_info import MediaInfo, media_info_from_json
from app.media.sandbox import Confinement, boxed, detect
from app.protocol.errors import ErrorCode, ErrorInfo, VcsError

MODULE: Final = "app.media.probe_process"
# The answer is a few hundred bytes; more is not a probe talking.
MAX_ANSWER_BYTES: Final = 1 << 20
STDERR_LINES_KEPT: Final = 20
# Codes a probe may answer with; anything else is reported as unreadable media.
PROBE_CODES: Final = frozenset(
    {ErrorCode.UNREADABLE_MEDIA, ErrorCode.FORMAT_NOT_ALLOWED, ErrorCode.MEDIA_TOO_LARGE}
)
PROBES_AT_ONCE: Final = max(2, os.cpu_count() or 1)

_probe_slots: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("probe_slots")


def _slots() -> trio.CapacityLimiter:
    """This trio run's probe limiter (one per run, like trio's own default limiter)."""
    try:
        return _probe_slots.get()
    except LookupError:
        limiter = trio.CapacityLimiter(PROBES_AT_ONCE)
        _probe_slots.set(limiter)
        return limiter


def probe_command(*args: str) -> list[str]:
    # -I: no environment, no user site; -B: no .pyc written (the box may not write).
    return [sys.executable, "-I", "-B", "-m", MODULE, *args]


def probe_programs() -> tuple[Path, ...]:
    """What the probe runs from: the interpreter, its environment, this package."""
    return (Path(sys.base_prefix), Path(sys.prefix), Path(app.__file__).parent)


@functools.cache
def probe_confinement() -> Confinement:
    """The probe's confinement on this machine (blocking the first time: ~0.3 s)."""
    return detect(probe_command("check"), probe_programs())


def _unreadable(why: str) -> VcsError:
    return VcsError(
        ErrorCode.UNREADABLE_MEDIA,
        f"The server could not read the upload as media ({why}).",
        "Upload a complete video file in a format FFmpeg supports (mp4, mkv, mov, webm, "
        "avi, ...); check that the file plays locally.",
    )


async def _ask(path: Path, args: Sequence[str], limits: MediaLimits) -> dict[str, Any]:
    """Run one probe command on `path`; its JSON answer, or the VcsError it reported."""
    confinement = await trio.to_thread.run_sync(probe_confinement)
    answer = bytearray()
    stderr_tail: collections.deque[bytes] = collections.deque(maxlen=STDERR_LINES_KEPT)

    async def read_answer(process: trio.Process) -> None:
        assert process.stdout is not None
        async for data in process.stdout:
            answer.extend(data[: MAX_ANSWER_BYTES + 1 - len(answer)])
            if len(answer) > MAX_ANSWER_BYTES:
                process.kill()  # not a probe talking: its answer is refused below
                return

    async def read_stderr(stream: trio.abc.ReceiveStream) -> None:
        async for data in stream:
            stderr_tail.append(bytes(data[-512:]))

    async with _slots():
        with (
            boxed(
                confinement,
                probe_command(*args),
                programs=probe_programs(),
                reads=(path,),
                writes=(),
                limits=limits.for_probe(),
            ) as launch,
            trio.move_on_after(limits.probe_wall_s) as timer,
        ):
            async with trio.open_nursery() as nursery:
                process = await launch.start(nursery)
                assert process.stderr is not None
                nursery.start_soon(read_stderr, process.stderr)
                await read_answer(process)
    if timer.cancelled_caught:
        raise _unreadable(f"probing did not finish within {limits.probe_wall_s:g} s")
    if len(answer) > MAX_ANSWER_BYTES:
        raise _unreadable("the probe's answer was too long")
    try:
        doc = json.loads(bytes(answer))
    except ValueError:
        last = b"".join(stderr_tail).decode("utf-8", "replace").strip().splitlines()[-1:]
        why = f"the probe stopped: exit status {process.returncode}"
        raise _unreadable(f"{why}, {last[0][:200]}" if last else why) from None
    if not isinstance(doc, dict):
        raise _unreadable("the probe's answer was not an object")
    error = ErrorInfo.from_json(doc)
    if error is not None:
        code = error.code if error.code in PROBE_CODES else ErrorCode.UNREADABLE_MEDIA
        raise VcsError(code, error.description, error.solution)
    return doc


async def probe_upload(path: Path, limits: MediaLimits = DEFAULT_LIMITS) -> MediaInfo:
    """What the upload at `path` holds, checked against the frame caps (limits.py).

    Raises VcsError: FORMAT_NOT_ALLOWED, MEDIA_TOO_LARGE or UNREADABLE_MEDIA.
    """
    doc = await _ask(path, ["probe", str(path)], limits)
    try:
        info = media_info_from_json(doc.get("info"))
    except ValueError as exc:
        raise _unreadable(f"the probe's answer had a bad field: {exc}") from None
    check_frames(info)
    return info


async def keyframes_near(
    path: Path, times_s: Sequence[float], limits: MediaLimits = DEFAULT_LIMITS
) -> list[float | None]:
    """compress/keyframes.py's `keyframes_before`, in the probe process; where the probe
    cannot tell (or fails), None for each time: the samples then start where planned."""
    args = ["keyframes", str(path), *(f"{t:.6f}" for t in times_s)]
    try:
        found = (await _ask(path, args, limits)).get("keyframes")
    except VcsError:
        return [None] * len(times_s)
    if not isinstance(found, list) or len(found) != len(times_s):
        return [None] * len(times_s)
    return [
        float(t)
        if isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t)
        else None
        for t in found
    ]
