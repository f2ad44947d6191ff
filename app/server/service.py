"""The daemon: stores, the accept loop, the work queue's consumer, sweeps and clean
shutdown (docs/operations.md, §7)."""

from __future__ import annotations

import functools
import logging
import signal
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final, NamedTuple

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from app.media.ffmpeg_exe import find_ffmpeg
from app.protocol import ErrorInfo, encode_error
from app.server.admission import ConnectionLimits, serve_listener
from app.server.authorized_keys import AuthorizedKeys
from app.server.client_address import is_trusted
from app.server.config import ServerConfig
from app.server.connection import handle_connection
from app.server.engines import SQLITE, open_blob_store, open_job_store
from app.server.input_copies import InputCopies
from app.server.key_exchange_limits import KeyExchangeLimits
from app.server.legacy_index import import_legacy_storage
from app.server.metrics import Gauges, Metrics
from app.server.metrics_http import serve_metrics
from app.server.ops import prepare_ops
from app.server.raw_listener import handle_raw_connection, refuse_raw_connection
from app.server.raw_store import RawStore
from app.server.registry import AdmissionRules, JobRegistry
from app.server.settings_reload import apply_settings
from app.server.state import ServerState
from app.server.storage import WorkArea
from app.server.stores.job_store import StoreUnavailable
from app.server.stores.local_blobs import LocalBlobStore
from app.server.stores.postgres_jobs import PostgresDatabase, listen
from app.server.stores.sqlite_jobs import is_new_store
from app.server.worker import claim_loop
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

# A cluster's nodes sweep for blobs no row owns this often (one node: at start only).
ORPHAN_SWEEP_S: Final = 3600.0
# An upload whose node has not beaten for this long (at least) is reaped.
UPLOAD_REAP_MIN_S: Final = 60.0


async def _logging_failures(what: str, step: Callable[[], Awaitable[object]]) -> None:
    """One round of a periodic sweep: a store that does not answer is tried next round."""
    try:
        await step()
    except StoreUnavailable as exc:
        log.warning("%s: the job store is unreachable: %s", what, exc)
    except Exception:
        log.exception("%s failed; trying again next round", what)


async def _expiry_loop(state: ServerState) -> None:
    """Ended jobs and raw uploads past their retention go (docs/operations.md), on any node."""
    last_orphan_sweep = trio.current_time()

    async def expire_jobs() -> None:
        if count := await state.jobs.expire(state.config.retention_s):
            log.info("expired %d job(s)", count)

    while True:
        await trio.sleep(state.config.sweep_interval_s)
        await _logging_failures("expiring jobs", expire_jobs)
        await _logging_failures("expiring raw uploads", state.raw_store.expire)
        if state.jobs.shared and trio.current_time() - last_orphan_sweep > ORPHAN_SWEEP_S:
            last_orphan_sweep = trio.current_time()
            await _logging_failures("sweeping orphaned files", state.jobs.sweep_orphans)


async def _cluster_loop(state: ServerState) -> None:
    """A cluster node beats, takes back the runs of nodes that stopped renewing their
    leases, and reaps the uploads of nodes that stopped beating."""
    lease_s = state.config.task_lease_s
    jobs = state.jobs
    while True:
        await _logging_failures("heartbeat", jobs.store.heartbeat)
        await _logging_failures("requeueing lost runs", jobs.requeue_lost)
        await _logging_failures(
            "reaping uploads of silent nodes",
            functools.partial(jobs.reap_silent_nodes, max(UPLOAD_REAP_MIN_S, 3 * lease_s)),
        )
        await _logging_failures("deleting idle input copies", state.input_copies.evict_idle)
        await trio.sleep(min(5.0, lease_s / 3))


async def _wait_for_jobs(state: ServerState, done: trio.CancelScope) -> None:
    """Draining ends when this node runs nothing (a cluster's others take its queue),
    or, alone, when nothing is queued or running."""
    while True:
        if state.jobs.board.running_count == 0:
            if state.jobs.shared:
                break
            counts = await state.jobs.store.job_counts()
            if not any(n for (_, st), n in counts.items() if st in ("queued", "running")):
                break
        await trio.sleep(0.5)
    log.info("drained: no job left running")
    done.cancel()


async def open_state(
    config: ServerConfig, server_key: rsa.RSAPrivateKey | None = None
) -> ServerState:
    """Open the stores, sweep what a crash left, size the quota."""
    work = WorkArea(config.storage_dir)
    blobs = open_blob_store(config)
    swept = await blobs.prepare()
    first_start = config.job_store == SQLITE and is_new_store(config.storage_dir)
    store = await trio.to_thread.run_sync(open_job_store, config)
    await store.set_quota_limit(config.quota_bytes, config.bytes_per_address)
    await store.heartbeat()
    metrics = Metrics()
    jobs = JobRegistry(
        store,
        blobs,
        config.node_id,
        AdmissionRules(config.max_queued_jobs, config.max_jobs_per_network),
        metrics,
    )
    if first_start and isinstance(blobs, LocalBlobStore):
        await import_legacy_storage(store, config.storage_dir)
    waiting = await jobs.restart_sweep()
    # Alone, this node runs the waiting jobs itself: what they finished stays for them
    # (a cluster's shared work is in the stores; anything local is a copy).
    swept += work.prepare(keep_jobs=() if jobs.shared else waiting)
    if swept:
        log.info("swept %d partial file(s) left by an earlier run", swept)
    log.info("jobs in %s; files in %s", store.db.description, blobs.description)
    authorized = None
    if config.authorized_keys_file is not None:
        authorized = AuthorizedKeys(config.authorized_keys_file)
        authorized.load()  # a missing or malformed file stops the start (cli.py says why)
    return ServerState(
        config=config,
        jobs=jobs,
        blobs=blobs,
        raw_store=RawStore(store, blobs, config.raw_retention_s),
        work=work,
        ffmpeg=find_ffmpeg(config.ffmpeg),
        ffmpeg_limiter=trio.CapacityLimiter(config.max_jobs),
        input_copies=InputCopies(blobs, work.dir),
        server_key=server_key or load_or_create_private_key(config.key_path),
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
                await _logging_failures(
                    "reloading settings", functools.partial(apply_settings, state, limits, new)
                )
            continue
        name = signal.Signals(signum).name
        if not state.accepting or config.drain_timeout_s <= 0:
            log.info("received %s: shutting down", name)
            break
        # Draining (docs/scale.md): close the listener and answer 503 on /health so the
        # balancer sends new clients elsewhere, take no new uploads, let the jobs
        # running here finish (alone: the queued ones too); results stay stored.
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


class StoreReadings:
    """The job store's gauges, read before each scrape (they are cluster-wide)."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self.jobs: Counter[tuple[str, str]] = Counter()
        self.used = 0
        self.limit = state.config.quota_bytes

    async def refresh(self) -> None:
        store = self._state.jobs.store
        try:
            self.jobs = await store.job_counts()
            self.used, self.limit = await store.quota()
        except StoreUnavailable as exc:
            log.warning("metrics: the job store is unreachable (gauges are stale): %s", exc)

    def waiting(self) -> int:
        """Uploads in progress and queued jobs: each waits for an FFmpeg slot."""
        return sum(n for (_, st), n in self.jobs.items() if st in ("uploading", "queued"))


def _gauges(state: ServerState, limits: ConnectionLimits, readings: StoreReadings) -> Gauges:
    return Gauges(
        jobs=lambda: readings.jobs,
        queued=readings.waiting,
        quota_used_bytes=lambda: readings.used,
        quota_limit_bytes=lambda: readings.limit,
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
        listener = await open_listener(config.host, config.port)
        raw_listener = await open_listener(config.host, config.raw_port)
        state = await open_state(config, server_key)
        try:
            async with trio.open_nursery() as root:
                await _run(state, listener, raw_listener, signals, root, reload, task_status)
        finally:
            with trio.CancelScope(shield=True):
                await state.input_copies.evict_idle(everything=True)
            state.jobs.store.close()


async def _run(
    state: ServerState,
    listener: trio.SocketListener,
    raw_listener: trio.SocketListener,
    signals: AsyncIterator[int],
    root: trio.Nursery,
    reload: Reload | None,
    task_status: trio.TaskStatus[BoundAddresses],
) -> None:
    config = state.config
    await trio.to_thread.run_sync(prepare_ops, state.ffmpeg)
    host, port = listener.socket.getsockname()[:2]
    raw_port = raw_listener.socket.getsockname()[1]
    # docs/operations.md limits: one table of connections for both listeners.
    limits = ConnectionLimits(
        config.max_connections,
        config.max_connections_per_ip,
        # A trusted balancer carries many clients: its connections are not capped
        # per address (the clients' own addresses are counted by job rules).
        exempt=lambda ip: (
            state.config.proxy_protocol and is_trusted(ip, state.config.trusted_proxies)
        ),
    )
    readings = StoreReadings(state)
    state.metrics.gauges = _gauges(state, limits, readings)
    metrics_port = None
    if config.metrics_address is not None:
        metrics_host, wanted_port = config.metrics_address
        metrics_port = await root.start(
            serve_metrics,
            metrics_host,
            wanted_port,
            state.metrics,
            lambda: not state.accepting,
            readings.refresh,
        )

    accepting = trio.CancelScope()
    root.start_soon(_handle_signals, signals, state, limits, accepting, root.cancel_scope, reload)
    root.start_soon(_expiry_loop, state)
    root.start_soon(claim_loop, state)
    store = state.jobs.store
    if state.jobs.shared:
        root.start_soon(_cluster_loop, state)
        assert isinstance(store.db, PostgresDatabase)
        root.start_soon(listen, store.db, store.board)

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
                listeners.start_soon(serve_listener, listener, limits, serve_mmp, refuse_mmp, root)
                listeners.start_soon(
                    serve_listener, raw_listener, limits, serve_raw, refuse_raw, root
                )

    root.start_soon(accept)
    task_status.started(BoundAddresses(str(host), int(port), int(raw_port), metrics_port))
