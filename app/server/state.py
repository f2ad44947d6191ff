"""The server's shared state: one object handed to every connection and job."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from app.server.authorized_keys import AuthorizedKeys
from app.server.config import ServerConfig
from app.server.key_exchange_limits import KeyExchangeLimits
from app.server.metrics import Metrics
from app.server.quota import Quota
from app.server.raw_store import RawStore
from app.server.registry import JobRegistry
from app.server.storage import Storage


@dataclass(eq=False)
class ServerState:
    config: ServerConfig
    storage: Storage
    quota: Quota
    jobs: JobRegistry
    ffmpeg: str
    job_nursery: trio.Nursery
    # FFmpeg processes at once: CPU-bound work limited to the machine.
    ffmpeg_limiter: trio.CapacityLimiter
    # Raw uploads (SPEC §2.2), under the same quota.
    raw_store: RawStore
    # Blocking helpers (probe, hashing, fsync) in worker threads.
    thread_limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(4))
    accepting: bool = True
    # The key that proves this server's identity in encrypted handshakes (SPEC §6).
    server_key: rsa.RSAPrivateKey | None = None
    metrics: Metrics = field(default_factory=Metrics)
    # Who may connect (None: anyone), and how many key exchanges are taken.
    authorized_keys: AuthorizedKeys | None = None
    key_exchanges: KeyExchangeLimits | None = None
    # The handshakes' RSA signatures, apart from probes and hashing (thread_limiter): a
    # flood of key exchanges must not delay a job's probe.
    key_exchange_limiter: trio.CapacityLimiter = field(
        default_factory=lambda: trio.CapacityLimiter(2)
    )
