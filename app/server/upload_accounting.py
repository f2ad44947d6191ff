"""What an upload's bytes count against as they arrive: its quota and the metrics.

An upload holds what has arrived plus a headroom (quota.UploadReservation), so a slow
upload cannot sit on the space it declared; `counting_received` is the progress
callback that grows the reservation (raising quota_exceeded stops the upload, nothing
kept) and counts the bytes for /metrics. It runs in the event loop, at least every
0.1 s while bytes arrive (app/wire/payload_receive.py).
"""

from __future__ import annotations

from collections.abc import Callable

from app.server.metrics import Metrics
from app.server.quota import UploadReservation


def counting_received(
    metrics: Metrics, port: str, reservation: UploadReservation
) -> Callable[[int], None]:
    """A progress callback (bytes since the last call) for an upload on `port`."""
    received = 0

    def more(nbytes: int) -> None:
        nonlocal received
        received += nbytes
        reservation.grow(received)
        metrics.count_received(port, nbytes)

    return more
