"""What bulk transfers below the stream layer (splice, sendfile) ask about their waits.

A trio Stream wrapper can time each `receive_some` / `send_all`; a transfer that moves
bytes with system calls on the raw socket cannot go through it. It asks a WaitGuard
instead: how long it may wait for the peer next, and, after each wait, whether the
peer is still keeping up. The guard raises to end the transfer (trio.TooSlowError or
a subclass carrying the answer for the peer).
"""

from __future__ import annotations

import math
from typing import Protocol

import trio


class WaitGuard(Protocol):
    def wait_limit_s(self) -> float:
        """The longest the next wait for the peer may last (math.inf: no limit)."""
        ...

    def waited(self, seconds: float, timed_out: bool) -> None:
        """Called after each wait; raises when the peer is too slow or silent."""
        ...

    def moved(self, nbytes: int) -> None:
        """Called after bytes went through."""
        ...


class IdleGuard:
    """Only an idle limit: one wait may not last longer than `idle_timeout_s`."""

    def __init__(self, idle_timeout_s: float = math.inf) -> None:
        self.idle_timeout_s = idle_timeout_s

    def wait_limit_s(self) -> float:
        return self.idle_timeout_s

    def waited(self, seconds: float, timed_out: bool) -> None:
        if timed_out:
            raise trio.TooSlowError(f"the peer was silent for {self.idle_timeout_s:.0f} s")

    def moved(self, nbytes: int) -> None:
        pass
