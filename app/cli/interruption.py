"""Ctrl-C (and SIGTERM) as a cancellation: the work's cleanup runs before the CLI exits.

Left to Python, SIGINT raises KeyboardInterrupt wherever the program happens to be,
and SIGTERM kills it at once: a partial download would stay behind and a job on the
server would keep running. Inside `until_interrupted` the signal cancels the work
instead, so every `finally` runs — shielded cleanup too (deleting the partial file,
cancelling the server's job) — and the caller prints what happened and exits 130
(143 for SIGTERM). A second Ctrl-C during that cleanup is not needed: it is bounded.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import trio

from app.wire.exception_groups import sole_exception

T = TypeVar("T")

# What a shell reports for a process ended by the signal: 128 + its number.
EXIT_FOR_SIGNAL: Final = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass(frozen=True, slots=True)
class Ended(Generic[T]):
    """The work's value, or the signal that cut it short (`value` None then)."""

    value: T | None
    signal: signal.Signals | None = None

    @property
    def exit_code(self) -> int | None:
        return EXIT_FOR_SIGNAL[self.signal] if self.signal is not None else None


async def until_interrupted(work: Callable[[], Awaitable[T]]) -> Ended[T]:
    """Run `work` until it returns, or until SIGINT/SIGTERM cancels it."""
    got: list[signal.Signals] = []
    result: list[T] = []
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with trio.open_nursery() as nursery:

                async def watch() -> None:
                    async for number in signals:
                        got.append(signal.Signals(number))
                        nursery.cancel_scope.cancel()
                        return

                nursery.start_soon(watch)
                result.append(await work())
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:  # the work's own error, for the caller to answer
            raise sole_exception(group) from None
    if result:  # finished before the signal took effect
        return Ended(result[0])
    return Ended(None, got[0])
