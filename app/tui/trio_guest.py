"""Our trio client running as a guest on Textual's asyncio loop (STYLE §6).

Trio's scheduler steps are run by asyncio's loop, on the UI thread: trio tasks may
touch the app directly, and network waits never block a key press. One nursery holds
every task; `stop()` cancels it and waits until trio has finished, so `finally` blocks
(shielded cleanup, deleting a partial download) have run before the app is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio

TaskFn = Callable[[], Awaitable[Any]]


class TrioGuest:
    def __init__(self, on_crash: Callable[[BaseException], None]) -> None:
        self._on_crash = on_crash
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        # Tasks asked for before trio's first step opened the nursery.
        self._pending: list[TaskFn] = []
        self._done: asyncio.Future[outcome.Outcome[None]] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._done is not None and not self._done.done()

    def start(self) -> None:
        """Start trio on the running asyncio loop (from the app's `on_mount`)."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        trio.lowlevel.start_guest_run(
            self._main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            # asyncio owns the signal wakeup fd; trio must leave it alone.
            host_uses_signal_set_wakeup_fd=True,
            done_callback=self._finished,
        )

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for fn in self._pending:
                nursery.start_soon(fn)
            self._pending.clear()
            if self._stopping:
                nursery.cancel_scope.cancel()
            await trio.sleep_forever()

    def _finished(self, result: outcome.Outcome[None]) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(result)
        if isinstance(result, outcome.Error) and not isinstance(result.error, trio.Cancelled):
            self._on_crash(result.error)

    def start_soon(self, fn: TaskFn) -> None:
        """Run `fn` as a trio task in the app's nursery (callable from asyncio code)."""
        if self._stopping:
            return
        if self._nursery is None or self._token is None:
            self._pending.append(fn)
        else:
            self._token.run_sync_soon(self._nursery.start_soon, fn)

    def run_sync_soon(self, fn: Callable[[], object]) -> None:
        """Run `fn` inside trio's context, e.g. `scope.cancel` for a scope trio owns."""
        if self._token is not None and self.running:
            self._token.run_sync_soon(fn)

    async def stop(self) -> None:
        """Cancel every task and wait for trio to finish (from the app's `on_unmount`)."""
        self._stopping = True
        if self._done is None:
            return
        if self._nursery is not None and self._token is not None and not self._done.done():
            self._token.run_sync_soon(self._nursery.cancel_scope.cancel)
        # If trio has not taken its first step yet, `_main` cancels itself when it does.
        await self._done
