"""Server settings, with the defaults of SPEC §3."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from app.media.limits import MediaLimits
from app.server.key_exchange_limits import KeyExchangeRates

DEFAULT_PORT: Final = 9000
DEFAULT_QUOTA_BYTES: Final = 4 * 10**12  # SPEC §3: 4 TB
DEFAULT_RETENTION_S: Final = 3600.0  # SPEC §3: results kept 1 hour
DEFAULT_IDLE_TIMEOUT_S: Final = 60.0
DEFAULT_JOB_TIMEOUT_S: Final = 6 * 3600.0
DEFAULT_MAX_CONNECTIONS: Final = 4096
DEFAULT_RAW_PORT: Final = 9001  # SPEC §2.2
DEFAULT_MAX_CONNECTIONS_PER_IP: Final = 32
# SPEC §3 "too-slow connections are dropped": mid-message, a peer must send at least
# this many bytes per second, judged over each window of this many seconds of waiting.
DEFAULT_MIN_TRANSFER_RATE: Final = 1024
DEFAULT_TRANSFER_WINDOW_S: Final = 30.0
# Admission caps (SPEC §3.0), settled before a payload byte is stored.
DEFAULT_MAX_QUEUED_JOBS: Final = 64
DEFAULT_MAX_JOBS_PER_NETWORK: Final = 8


SERVER_KEY_NAME: Final = "server_key.pem"


def default_storage_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "vcs" / "storage"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    storage_dir: Path = field(default_factory=default_storage_dir)
    quota_bytes: int = DEFAULT_QUOTA_BYTES
    # Concurrent FFmpeg jobs; each FFmpeg already uses every core, so one per two cores.
    max_jobs: int = max(1, (os.cpu_count() or 1) // 2)
    retention_s: float = DEFAULT_RETENTION_S
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    job_timeout_s: float = DEFAULT_JOB_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    ffmpeg: str | None = None
    # Behind a balancer: names this node in job ids (SPEC §7).
    node_id: str = ""
    # SPEC §6: the server's RSA key (default: server_key.pem in the storage dir), and
    # whether plaintext MMP clients are refused.
    key_file: Path | None = None
    require_encryption: bool = False
    # SPEC §6: only the client keys listed here may connect (and then only encrypted);
    # None: any client (a local box).
    authorized_keys_file: Path | None = None
    key_exchange_rates: KeyExchangeRates = field(default_factory=KeyExchangeRates)
    # SPEC §7: read a PROXY v1/v2 header on connections from these balancer networks.
    # On SIGTERM, let running jobs finish for up to this long (0: stop at once).
    drain_timeout_s: float = 0.0
    proxy_protocol: bool = False
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    raw_port: int = DEFAULT_RAW_PORT
    # Raw uploads (SPEC §2.2) are kept this long, then deleted.
    raw_retention_s: float = DEFAULT_RETENTION_S
    # Open connections (MMP and raw together) from one address; 0: no cap.
    max_connections_per_ip: int = DEFAULT_MAX_CONNECTIONS_PER_IP
    # Bytes per second; 0 turns the slow-transfer rule off.
    min_transfer_rate: float = DEFAULT_MIN_TRANSFER_RATE
    transfer_window_s: float = DEFAULT_TRANSFER_WINDOW_S
    # How often expired results are looked for.
    sweep_interval_s: float = 30.0
    # Jobs waiting for an FFmpeg slot (uploads in progress included); 0: no cap.
    max_queued_jobs: int = DEFAULT_MAX_QUEUED_JOBS
    # Active jobs from one /24 (IPv4) or /64 (IPv6) block; 0: no cap.
    max_jobs_per_network: int = DEFAULT_MAX_JOBS_PER_NETWORK
    # Bytes one client address may hold (uploads, results, raw files); None: a quarter
    # of the quota, 0: no cap.
    max_bytes_per_address: int | None = None
    # Where to serve /metrics and /health (docs/operations.md, "Metrics"); None: off.
    metrics_address: tuple[str, int] | None = None
    # Caps on uploads and rlimits of the probe and FFmpeg (docs/security.md).
    media_limits: MediaLimits = field(default_factory=MediaLimits)

    @property
    def bytes_per_address(self) -> int:
        if self.max_bytes_per_address is None:
            return self.quota_bytes // 4
        return self.max_bytes_per_address

    @property
    def key_path(self) -> Path:
        return self.key_file or self.storage_dir / SERVER_KEY_NAME

    @property
    def plaintext_refused(self) -> bool:
        """Plaintext MMP is refused: asked for, or implied by an authorized-keys file
        (a plaintext client proves no key)."""
        return self.require_encryption or self.authorized_keys_file is not None
