"""SIGHUP (`systemctl reload vcs-serve`): new settings without dropping a connection.

Limits, timeouts, retention and the quota apply at once (to what starts from then on:
a running job keeps the timeout it started with). What needs a new socket, directory,
key or process — addresses, ports, storage, keys, FFmpeg, the node id — is logged as
waiting for a restart and kept as it is.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Final

from app.server.admission import ConnectionLimits
from app.server.authorized_keys import AuthorizedKeys, AuthorizedKeysError
from app.server.config import ServerConfig
from app.server.key_exchange_limits import KeyExchangeLimits
from app.server.registry import AdmissionRules
from app.server.state import ServerState

log = logging.getLogger(__name__)

NEEDS_RESTART: Final = (
    "host",
    "port",
    "raw_port",
    "storage_dir",
    "key_file",
    "ffmpeg",
    "node_id",
    "metrics_address",
)


def apply_settings(state: ServerState, limits: ConnectionLimits, new: ServerConfig) -> None:
    old = state.config
    pending = [name for name in NEEDS_RESTART if getattr(old, name) != getattr(new, name)]
    # Keep what cannot change now, so that the running server's config stays true.
    kept = dataclasses.replace(new, **{name: getattr(old, name) for name in pending})
    state.config = kept
    limits.max_total = kept.max_connections
    limits.max_per_ip = kept.max_connections_per_ip
    state.jobs.rules = AdmissionRules(kept.max_queued_jobs, kept.max_jobs_per_network)
    state.quota.limit = kept.quota_bytes
    state.quota.per_holder_limit = kept.bytes_per_address
    state.ffmpeg_limiter.total_tokens = kept.max_jobs
    state.raw_store.retention_s = kept.raw_retention_s
    if kept.key_exchange_rates != old.key_exchange_rates:
        state.key_exchanges = KeyExchangeLimits(kept.key_exchange_rates)
    if kept.authorized_keys_file != old.authorized_keys_file:
        state.authorized_keys = _authorized_keys(kept, state.authorized_keys)
        if state.authorized_keys is None and kept.authorized_keys_file is not None:
            kept = dataclasses.replace(kept, authorized_keys_file=old.authorized_keys_file)
            state.config = kept
    changed = [
        field.name
        for field in dataclasses.fields(ServerConfig)
        if getattr(old, field.name) != getattr(kept, field.name)
    ]
    log.info("reloaded settings: %s", ", ".join(changed) or "nothing changed")
    if pending:
        log.warning("these settings take effect after a restart: %s", ", ".join(pending))


def _authorized_keys(new: ServerConfig, current: AuthorizedKeys | None) -> AuthorizedKeys | None:
    """The new --authorized-keys file, read now; an unusable one keeps `current`
    (and the server's access as it was)."""
    if new.authorized_keys_file is None:
        return None
    keys = AuthorizedKeys(new.authorized_keys_file)
    try:
        keys.load()
    except (OSError, AuthorizedKeysError) as exc:
        log.error("reload: --authorized-keys unusable, access stays as it was: %s", exc)
        return current if current is not None else None
    return keys
