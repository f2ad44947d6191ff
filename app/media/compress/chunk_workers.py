"""Running a job's chunk tasks side by side: as many at once as the machine has cores,
each FFmpeg with fewer threads (one chunk per core scales better than one encoder's
threads over all of them, and keeps every core busy through each encode's start-up and
end). The first failure cancels the rest and is raised as itself (a VcsError reaches
the job's error report, not an exception group)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar

import trio

from app.protocol.errors import VcsError

T = TypeVar("T")
# Encoder threads per worker: one; more only when there are fewer tasks than cores.
MIN_THREADS: Final = 1


def worker_count(requested: int | None = None) -> int:
    return max(1, requested or os.cpu_count() or 1)


def threads_per_worker(workers: int, tasks: int) -> int:
    cores = os.cpu_count() or 1
    return max(MIN_THREADS, cores // max(1, min(workers, tasks)))


class StopAll(Exception):
    """Raised by a task to end the whole run early (the others are cancelled)."""


async def run_side_by_side(
    tasks: Sequence[Callable[[], Awaitable[T]]],
    workers: int,
    costs: Sequence[float] | None = None,
) -> list[T]:
    """Every task's result, in order; at most `workers` run at once, the costliest
    first when `costs` are given (the last to start are then short: the cores finish
    together). A task's VcsError or StopAll cancels the others and is raised."""
    done: dict[int, T] = {}
    failure: list[VcsError | StopAll] = []
    order = list(range(len(tasks)))
    if costs is not None:
        order.sort(key=lambda i: -costs[i])
    pending = iter(order)  # shared by the workers: each takes the next task when free

    async def worker(nursery: trio.Nursery) -> None:
        for i in pending:
            try:
                done[i] = await tasks[i]()
            except (VcsError, StopAll) as exc:
                failure.append(exc)
                nursery.cancel_scope.cancel()
                return

    async with trio.open_nursery() as nursery:
        for _ in range(min(max(1, workers), len(tasks))):
            nursery.start_soon(worker, nursery)
    if failure:
        raise failure[0]
    return [done[i] for i in range(len(tasks))]
