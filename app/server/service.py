"""The daemon: storage set-up, the accept loop, result expiry and clean shutdown (SPEC §3)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from app.media.ffmpeg_exe import find_ffmpeg
from app.protocol import ErrorInfo, encode_error
from app.server.admission import ConnectionLimits, serve_listener
from app.server.authorized_keys import AuthorizedKeys
from app.server.client_address import is_trusted
from app.server.config import ServerConfig
from app.server.connection import handle_connection
from app.server.key_exchange_limits import KeyExchangeLimits
from app.server.metrics import Gauges, Metrics
from app.server.metrics_http import serve_metrics
from app.server.ops import prepare_ops
from app.server.quota import Quota
from app.server.raw_listener import handle_raw_connection, refuse_raw_connection
from app.server.raw_store import RawStore
from app.server.registry import AdmissionRules, JobRegistry
from app.server.settings_reload import apply_settings
from app.server.state import ServerState
from app.server.storage import Storage
from app.wire.key_files import load_or_create_private_key
from app.wire.sockets import open_listener

log = logging.getLogger(__name__)


class BoundAddresses(NamedTuple):
    """Where the server listens once it is ready: MMP on host:port, raw on host:raw_port."""

    host: str
    port: int
    raw_port: int
    metrics_port: int | None = None


# Called on SIGHUP: the settings to run with now, or None to keep the current ones.
Reload = Callable[[], ServerConfig | None]


async def _expiry_loop(state: ServerState) -> None:
    while True:
        await trio.sleep(state.config.sweep_interval_s)
        if count := state.jobs.expire(time.time(), state.config.retention_s):
            log.info("expired %d job(s)", count)
        state.raw_store.expire(time.time())


async def _wait_for_jobs(state: ServerState, done: trio.CancelScope) -> None:
    while unfinished := state.jobs.unfinished():
        await unfinished[0].changed.wait()
    log.info("drained: no job left running")
    done.cancel()


def open_state(
    config: ServerConfig, job_nursery: trio.Nursery, server_key: rsa.RSAPrivateKey | None = None
) -> ServerState:
    """Prepare storage (sweeping leftovers), reload the job index, size the quota."""
    storage = Storage(config.storage_dir)
    swept = storage.prepare()
    if swept:
        log.info("swept %d partial file(s) left by an earlier run", len(swept))
    quota = Quota(config.quota_bytes, config.bytes_per_address)
    metrics = Metrics()
    jobs = JobRegistry(
        storage,
        quota,
        config.node_id,
        AdmissionRules(config.max_queued_jobs, config.max_jobs_per_network),
        metrics,
    )
    jobs.restart_sweep()
    raw_store = RawStore(storage.root / "raw", quota, config.raw_retention_s)
    if swept_raw := raw_store.prepare():
        log.info("swept %d partial raw upload(s) left by an earlier run", swept_raw)
    authorized = None
    if config.authorized_keys_file is not None:
        authorized = AuthorizedKeys(config.authorized_keys_file)
        authorized.load()  # a missing or malformed file stops the start (cli.py says why)
    return ServerState(
        config=config,
        storage=storage,
        quota=quota,
        jobs=jobs,
        ffmpeg=find_ffmpeg(config.ffmpeg),
        job_nursery=job_nursery,
        ffmpeg_limiter=trio.CapacityLimiter(config.max_jobs),
        server_key=server_key or load_or_create_private_key(config.key_path),
        raw_store=raw_store,
        metrics=metrics,
        authorized_keys=authorized,
        key_exchanges=KeyExchangeLimits(config.key_exchange_rates),
    )


async def _handle_signals(
    signals: AsyncIterator[int],
    state: ServerState,
    limits: ConnectionLimits,
    accepting: trio.CancelScope,
    root: trio.CancelScope,
    reload: Reload | None,
) -> None:
    """SIGHUP reloads the settings; SIGINT/SIGTERM stop (draining first if asked)."""
    async for signum in signals:
        config = state.config
        if signum == signal.SIGHUP:
            new = reload() if reload is not None else None
            if new is not None:
                apply_settings(state, limits, new)
            continue
        name = signal.Signals(signum).name
        if not state.accepting or config.drain_timeout_s <= 0:
            log.info("received %s: shutting down", name)
            break
        # Draining (SPEC §7): close the listener so the balancer's health check sends
        # new clients elsewhere, take no new uploads, let queued and running jobs
        # finish; results stay on disk for after a restart.
        log.info("received %s: draining for up to %.0f s", name, config.drain_timeout_s)
        state.accepting = False
        accepting.cancel()
        with trio.move_on_after(config.drain_timeout_s):
            async with trio.open_nursery() as watch:
                watch.start_soon(_wait_for_jobs, state, watch.cancel_scope)
                async for again in signals:  # a second SIGINT/SIGTERM: stop now
                    if again != signal.SIGHUP:
                        break
                watch.cancel_scope.cancel()
        break
    state.accepting = False
    root.cancel()


def _gauges(state: ServerState, limits: ConnectionLimits) -> Gauges:
    return Gauges(
        jobs=lambda: ((job.op, str(job.state)) for job in state.jobs),
        queued=state.jobs.waiting,
        quota_used_bytes=lambda: state.quota.used,
        quota_limit_bytes=lambda: state.quota.limit,
        connections=lambda: limits.open,
        draining=lambda: not state.accepting,
    )


async def serve(
    config: ServerConfig,
    *,
    server_key: rsa.RSAPrivateKey | None = None,
    reload: Reload | None = None,
    task_status: trio.TaskStatus[BoundAddresses] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled or sent SIGINT/SIGTERM; report the bound addresses when ready.

    SIGHUP calls `reload` for new settings and applies those that can change while
    running (docs/operations.md, "Reloading").
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as root:
            listener = await open_listener(config.host, config.port)
            raw_listener = await open_listener(config.host, config.raw_port)
            state = open_state(config, root, server_key)
            await trio.to_thread.run_sync(prepare_ops, state.ffmpeg)
            host, port = listener.socket.getsockname()[:2]
            raw_port = raw_listener.socket.getsockname()[1]
            # SPEC §3 limits: one table of connections for both listeners.
            limits = ConnectionLimits(
                config.max_connections,
                config.max_connections_per_ip,
                # A trusted balancer carries many clients: its connections are not capped
                # per address (the clients' own addresses are counted by job rules).
                exempt=lambda ip: (
                    state.config.proxy_protocol and is_trusted(ip, state.config.trusted_proxies)
                ),
            )
            state.metrics.gauges = _gauges(state, limits)
            metrics_port = None
            if config.metrics_address is not None:
                metrics_host, wanted_port = config.metrics_address
                metrics_port = await root.start(
                    serve_metrics,
                    metrics_host,
                    wanted_port,
                    state.metrics,
                    lambda: not state.accepting,
                )

            accepting = trio.CancelScope()
            root.start_soon(
                _handle_signals, signals, state, limits, accepting, root.cancel_scope, reload
            )
            root.start_soon(_expiry_loop, state)

            async def serve_mmp(stream: trio.SocketStream, ip: str) -> None:
                await handle_connection(stream, state, ip)

            async def serve_raw(stream: trio.SocketStream, ip: str) -> None:
                await handle_raw_connection(stream, state, ip)

            async def refuse_mmp(stream: trio.SocketStream, info: ErrorInfo) -> None:
                state.metrics.count_refusal("mmp", info.code)
                await stream.send_all(encode_error(info))

            async def refuse_raw(stream: trio.SocketStream, info: ErrorInfo) -> None:
                state.metrics.count_refusal("raw", info.code)
                await refuse_raw_connection(stream, info)

            async def accept() -> None:
                # Draining cancels this scope: both listeners close, nothing else stops.
                with accepting:
                    async with trio.open_nursery() as listeners:
                        listeners.start_soon(
                            serve_listener, listener, limits, serve_mmp, refuse_mmp, root
                        )
                        listeners.start_soon(
                            serve_listener, raw_listener, limits, serve_raw, refuse_raw, root
                        )

            root.start_soon(accept)
            task_status.started(BoundAddresses(str(host), int(port), int(raw_port), metrics_port))
