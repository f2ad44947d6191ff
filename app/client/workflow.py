"""Following a job until it ends: the long poll both the CLI and the TUI use."""

from __future__ import annotations

import time
from typing import Any, Protocol

import trio

from app.client.api import VcsClient

TERMINAL_STATES = ("done", "failed", "cancelled")
# How often a client asks about a job while nothing changes (the spec's default).
DEFAULT_POLL_INTERVAL_S = 60.0
# Never poll faster than this, even if a server ignores `wait_s` and answers at once.
MIN_POLL_GAP_S = 1.0


class StatusListener(Protocol):
    """Anything shown a job's status as it changes: the CLI's JobBar, the TUI's board."""

    def update(self, status: dict[str, Any]) -> None: ...


async def wait_for_job(
    client: VcsClient, job_id: str, poll_interval_s: float, bar: StatusListener | None = None
) -> dict[str, Any]:
    """Poll `status` until the job ends. Uses the long poll (`wait_s`) so a state change
    shows at once; against a server that answers at once it still polls only every
    `poll_interval_s` (60 s by default) while nothing changes. The polls share one
    connection (VcsClient.session)."""
    async with client.session():
        return await _poll(client, job_id, poll_interval_s, bar)


async def _poll(
    client: VcsClient, job_id: str, poll_interval_s: float, bar: StatusListener | None
) -> dict[str, Any]:
    last: tuple[object, object] | None = None
    while True:
        asked = time.monotonic()
        status = await client.status(job_id, wait_s=poll_interval_s)
        if bar is not None:
            bar.update(status)
        if status.get("state") in TERMINAL_STATES:
            return status
        now = (status.get("state"), status.get("progress"))
        if now == last:
            gap = poll_interval_s if time.monotonic() - asked < MIN_POLL_GAP_S else 0
            await trio.sleep(max(0.0, gap - (time.monotonic() - asked)))
        last = now
