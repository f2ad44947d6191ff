"""Local copies of other nodes' job inputs, shared by the tasks of one job on this node.

A cluster node that runs a job's chunk and trial tasks (chunk_tasks.py) needs the job's
input as a local file for FFmpeg. Copied from the blob store once per job, not once
per task: a one-hour film has hundreds of chunks and trials, and a node takes many of
them in a row. A copy stays while a task uses it and `LINGER_S` after the last one
(the next task of the same job usually comes within a second); `evict_idle`, called
at each claim and by the cluster loop, deletes those idle longer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import trio

from app.server.stores.blob_store import BlobStore

# How long a copy no task uses is kept for the job's next task here.
LINGER_S: Final = 60.0


@dataclass(eq=False)
class _Copy:
    lock: trio.Lock = field(default_factory=trio.Lock)
    path: Path | None = None
    stack: contextlib.AsyncExitStack | None = None
    users: int = 0
    idle_since: float = 0.0


class InputCopies:
    """One local copy per job input, counted by the tasks using it."""

    def __init__(self, blobs: BlobStore, scratch: Path, linger_s: float = LINGER_S) -> None:
        self._blobs = blobs
        self._scratch = scratch
        self._linger_s = linger_s
        self._copies: dict[str, _Copy] = {}

    @property
    def held(self) -> int:
        """Copies kept now (in use or lingering)."""
        return sum(1 for copy in self._copies.values() if copy.path is not None)

    @contextlib.asynccontextmanager
    async def copy_of(self, key: str) -> AsyncIterator[Path]:
        """The blob `key` as a local file for as long as the block runs (and a while
        after, for the next task that wants it)."""
        await self.evict_idle()
        copy = self._copies.setdefault(key, _Copy())
        copy.users += 1
        try:
            async with copy.lock:  # one download at a time for a key; the rest wait
                if copy.path is None:
                    stack = contextlib.AsyncExitStack()
                    copy.path = await stack.enter_async_context(
                        self._blobs.local_copy(key, self._scratch)
                    )
                    copy.stack = stack
            yield copy.path
        finally:
            copy.users -= 1
            copy.idle_since = trio.current_time()

    async def evict_idle(self, *, everything: bool = False) -> int:
        """Delete the copies no task has used for `linger_s` (all unused ones when
        `everything`: the server stops); how many went."""
        now = trio.current_time()
        gone = 0
        for key, copy in list(self._copies.items()):
            if copy.users or (not everything and now - copy.idle_since < self._linger_s):
                continue
            del self._copies[key]
            if copy.stack is not None:
                with trio.CancelScope(shield=True):
                    await copy.stack.aclose()
                gone += 1
        return gone
