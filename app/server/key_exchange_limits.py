"""How many key exchanges the server takes (SPEC §6): token buckets per address and in all.

Each key exchange costs the server an RSA private-key operation (a few ms of CPU) for
whoever opens a socket, before anything proves who they are. A bucket per source address
(the client's real address behind a trusted balancer) lets a client open a handful of
encrypted connections at once and a steady trickle after that; a global bucket caps
what many addresses together can cost. A refused exchange costs no private-key work:
it is answered with `too_many_key_exchanges` before the hello is even read. Our client
keeps one connection per server for a whole job, so a normal user never meets them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from app.protocol.errors import ErrorCode, ErrorInfo

# Addresses remembered at most; idle ones (a full bucket) are forgotten first.
MAX_TRACKED_ADDRESSES: Final = 65_536


class TokenBucket:
    """`burst` tokens, refilled at `rate_per_s`; taking one either succeeds or says how
    long until one is there."""

    def __init__(self, rate_per_s: float, burst: float, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
        self._stamp = now

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one will be there."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate_per_s if self.rate_per_s > 0 else math.inf

    def full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.burst


@dataclass(frozen=True, slots=True)
class KeyExchangeRates:
    """Per source address and for the whole server; a rate of 0 turns that cap off."""

    per_address_per_s: float = 4.0
    per_address_burst: int = 32
    total_per_s: float = 100.0
    total_burst: int = 200


class KeyExchangeLimits:
    def __init__(
        self, rates: KeyExchangeRates, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rates = rates
        self._clock = clock
        self._total = TokenBucket(rates.total_per_s, rates.total_burst, clock())
        self._per_address: dict[str, TokenBucket] = {}

    def admit(self, address: str) -> ErrorInfo | None:
        """Count one key exchange from `address` in, or say why it is refused."""
        now = self._clock()
        rates = self.rates
        if rates.per_address_per_s > 0:
            bucket = self._per_address.get(address)
            if bucket is None:
                self._forget_idle(now)
                bucket = TokenBucket(rates.per_address_per_s, rates.per_address_burst, now)
                self._per_address[address] = bucket
            wait_s = bucket.take(now)
            if wait_s:
                return ErrorInfo(
                    ErrorCode.TOO_MANY_KEY_EXCHANGES,
                    f"Your address ({address}) opened more encrypted connections than this "
                    f"server allows (a burst of {rates.per_address_burst}, then "
                    f"{rates.per_address_per_s:g} per second).",
                    f"Wait {math.ceil(wait_s)} s and try again; send many requests over one "
                    "connection (vcs keeps one per server for a whole job).",
                )
        if rates.total_per_s > 0 and (wait_s := self._total.take(now)):
            return ErrorInfo(
                ErrorCode.TOO_MANY_KEY_EXCHANGES,
                "The server is taking more new encrypted connections than it allows "
                f"({rates.total_per_s:g} per second in all).",
                f"Wait {math.ceil(wait_s)} s and try again.",
            )
        return None

    def _forget_idle(self, now: float) -> None:
        if len(self._per_address) < MAX_TRACKED_ADDRESSES:
            return
        for address in [a for a, b in self._per_address.items() if b.full(now)]:
            del self._per_address[address]
        while len(self._per_address) >= MAX_TRACKED_ADDRESSES:  # all busy: drop the oldest
            del self._per_address[next(iter(self._per_address))]
