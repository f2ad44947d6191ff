"""The job store's refusals as the error JSON a client reads (docs/protocol.md, Errors).

The store raises what it found (the address busy, the quota full...) as plain
exceptions; requests turn them into answers here, in one place, whatever the engine.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from app.protocol.errors import ErrorCode, VcsError
from app.server.quota import quota_refusal
from app.server.stores.job_store import (
    AddressBusy,
    KeyBusy,
    KeyQuotaFull,
    NetworkBusy,
    QueueFull,
    QuotaFull,
    StoreUnavailable,
)
from app.server.units import format_bytes

log = logging.getLogger(__name__)


def store_unavailable() -> VcsError:
    return VcsError(
        ErrorCode.STORE_UNAVAILABLE,
        "The server cannot reach its job store right now; nothing of this request was kept.",
        "Try again in a moment; if it lasts, tell the operator (docs/operations.md).",
    )


@contextlib.contextmanager
def answering_users() -> Iterator[None]:
    """The store's refusals as the error JSON a client reads."""
    try:
        yield
    except AddressBusy as busy:
        # docs/operations.md: one job per client IP (upload + queue + processing), cluster-wide.
        raise VcsError(
            ErrorCode.JOB_LIMIT,
            f"A job from your address ({busy}) is already being uploaded or processed.",
            "Wait for it to finish (`vcs status JOB`), or cancel it (`vcs cancel JOB`), "
            "then send the next file.",
        ) from None
    except NetworkBusy as busy:
        raise VcsError(
            ErrorCode.JOB_LIMIT,
            f"Addresses in {busy.network} already have {busy.active} jobs being uploaded, "
            "queued or processed, the most this server takes from one network.",
            "Wait until one of them finishes, then send the next file.",
        ) from None
    except QueueFull as full:
        raise VcsError(
            ErrorCode.QUEUE_FULL,
            f"The server already has {full.waiting} jobs waiting, the most it queues.",
            "Try again in a few minutes, when the queue has moved.",
        ) from None
    except QuotaFull as full:
        raise quota_refusal(full) from None
    except KeyBusy as busy:
        raise VcsError(
            ErrorCode.KEY_QUOTA_EXCEEDED,
            f"Your key ({busy.name}) already has {busy.active} job(s) uploading, queued or "
            "running, the most the server's operator allows it.",
            "Wait for one to finish (or cancel one), then send the next file.",
        ) from None
    except KeyQuotaFull as full:
        raise VcsError(
            ErrorCode.KEY_QUOTA_EXCEEDED,
            f"Your key ({full.name}) may hold {format_bytes(full.limit)} on this server; its "
            f"jobs hold {format_bytes(full.held)} and this upload needs "
            f"{format_bytes(full.needed)}.",
            "Download or cancel finished jobs to free space, or ask the operator for a "
            "larger quota.",
        ) from None
    except StoreUnavailable as exc:
        log.warning("%s", exc)
        raise store_unavailable() from None
