"""Chunk tasks side by side: at most N at once, the costliest first, results in order,
and the first failure raised as itself with the others stopped."""

from __future__ import annotations

import functools

import pytest
import trio

from app.media.compress.chunk_workers import StopAll, run_side_by_side
from app.protocol.errors import ErrorCode, VcsError


@pytest.mark.trio
async def test_costliest_first_never_more_than_the_workers(autojump_clock: trio.abc.Clock) -> None:
    running, most, started = 0, 0, []

    async def task(i: int, seconds: float) -> int:
        nonlocal running, most
        started.append(i)
        running += 1
        most = max(most, running)
        await trio.sleep(seconds)
        running -= 1
        return i * 10

    costs = [1.0, 5.0, 2.0, 4.0, 3.0]
    tasks = [functools.partial(task, i, c) for i, c in enumerate(costs)]
    assert await run_side_by_side(tasks, 2, costs) == [0, 10, 20, 30, 40]
    assert most == 2 and started[:2] == [1, 3]


@pytest.mark.trio
async def test_the_first_failure_stops_the_rest(autojump_clock: trio.abc.Clock) -> None:
    finished = []

    async def slow() -> None:
        await trio.sleep(100)
        finished.append("slow")

    async def failing() -> None:
        await trio.sleep(1)
        raise VcsError(ErrorCode.FFMPEG_FAILED, "broken", "fix it")

    with pytest.raises(VcsError, match="broken"):
        await run_side_by_side([slow, failing, slow], 3)
    assert finished == []

    async def stop() -> None:
        raise StopAll()

    with pytest.raises(StopAll):
        await run_side_by_side([slow, stop], 2)
