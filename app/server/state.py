"""The server's shared state: one object handed to every connection and job."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from app.server.authorized_keys import AuthorizedKeys
from app.server.config import ServerConfig
from app.server.input_copies import InputCopies
from app.server.key_exchange_limits import KeyExchangeLimits
from app.server.metrics import Metrics
from app.server.raw_store import RawStore
from app.server.registry import JobRegistry
from app.server.storage import WorkArea
from app.server.stores.blob_store import BlobStore


@dataclass(eq=False)
class ServerState:
    config: ServerConfig
    # Every job's record and transition, through the job store (SQLite or PostgreSQL).
    jobs: JobRegistry
    # Uploads, results and raw files: the storage directory, or S3 for a cluster.
    blobs: BlobStore
    # Raw uploads (docs/protocol.md), under the same quota.
    raw_store: RawStore
    # FFmpeg's outputs and local copies of inputs while a job runs.
    work: WorkArea
    ffmpeg: str
    # FFmpeg processes at once: CPU-bound work limited to the machine.
    ffmpeg_limiter: trio.CapacityLimiter
    # Other nodes' job inputs, copied once for all the tasks of a job run here.
    input_copies: InputCopies
    # Blocking helpers (probe, hashing, fsync) in worker threads.
    thread_limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(4))
    accepting: bool = True
    # The key that proves this server's identity in encrypted handshakes (docs/security.md).
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
