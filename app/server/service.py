"""The daemon: storage set-up, the accept loop, result expiry and clean shutdown (SPEC §3)."""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import time
from typing import Final

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from app.media.ffmpeg_exe import find_ffmpeg
from app.protocol import ErrorCode, ErrorInfo, encode_error
from app.server.config import ServerConfig
from app.server.connection import handle_connection
from app.server.jobs import JobRegistry, JobState
from app.server.quota import Quota
from app.server.state import ServerState
from app.server.storage import Storage
from app.wire.key_files import load_or_create_private_key
from app.wire.sockets import open_listener

log = logging.getLogger(__name__)

_ACCEPT_RESOURCE_ERRORS: Final = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


def expire_results(state: ServerState, now: float) -> int:
    """SPEC §3: results (and records of ended jobs) go after the retention time."""
    expired = 0
    for job in state.jobs:
        if not job.state.finished or job.finished_at is None:
            continue
        if now - job.finished_at < state.config.retention_s:
            continue
        if job.result_path is not None:
            job.result_path.unlink(missing_ok=True)
            job.result_path = None
        if job.result_reservation is not None:
            job.result_reservation.release()
        state.jobs.forget(job)
        expired += 1
    return expired


async def _expiry_loop(state: ServerState) -> None:
    while True:
        await trio.sleep(state.config.sweep_interval_s)
        if count := expire_results(state, time.time()):
            log.info("expired %d job(s)", count)


async def _refuse_busy(stream: trio.SocketStream) -> None:
    info = ErrorInfo(
        ErrorCode.BUSY,
        "The server has too many open connections.",
        "Try again in a few seconds.",
    )
    with trio.move_on_after(1):
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(encode_error(info))
    await stream.aclose()


async def _accept_loop(
    listener: trio.SocketListener, state: ServerState, nursery: trio.Nursery
) -> None:
    slots = trio.Semaphore(state.config.max_connections)

    async def serve_one(stream: trio.SocketStream) -> None:
        try:
            await handle_connection(stream, state)
        finally:
            slots.release()

    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_RESOURCE_ERRORS:
                    raise
                log.error("accept failed (%s); pausing 100 ms", exc)
                await trio.sleep(0.1)
                continue
            try:
                slots.acquire_nowait()
            except trio.WouldBlock:
                nursery.start_soon(_refuse_busy, stream)
                continue
            nursery.start_soon(serve_one, stream)


def open_state(
    config: ServerConfig, job_nursery: trio.Nursery, server_key: rsa.RSAPrivateKey | None = None
) -> ServerState:
    """Prepare storage (sweeping leftovers), reload the job index, size the quota."""
    storage = Storage(config.storage_dir)
    swept = storage.prepare()
    if swept:
        log.info("swept %d partial file(s) left by an earlier run", len(swept))
    jobs = JobRegistry(storage, config.node_id)
    jobs.load()
    quota = Quota(config.quota_bytes)
    for job in jobs:
        if job.state is JobState.DONE and job.result_path is not None:
            job.result_reservation = quota.reserve_existing(job.result_path.stat().st_size)
    return ServerState(
        config=config,
        storage=storage,
        quota=quota,
        jobs=jobs,
        ffmpeg=find_ffmpeg(config.ffmpeg),
        job_nursery=job_nursery,
        ffmpeg_limiter=trio.CapacityLimiter(config.max_jobs),
        server_key=server_key or load_or_create_private_key(config.key_path),
    )


async def serve(
    config: ServerConfig,
    *,
    server_key: rsa.RSAPrivateKey | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled or sent SIGINT/SIGTERM; report the bound address when ready."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as root:
            listener = await open_listener(config.host, config.port)
            state = open_state(config, root, server_key)
            host, port = listener.socket.getsockname()[:2]

            async def stop_on_signal() -> None:
                async for signum in signals:
                    log.info("received %s: shutting down", signal.Signals(signum).name)
                    state.accepting = False
                    root.cancel_scope.cancel()
                    return

            root.start_soon(stop_on_signal)
            root.start_soon(_expiry_loop, state)
            root.start_soon(_accept_loop, listener, state, root)
            task_status.started((str(host), int(port)))
