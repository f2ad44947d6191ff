"""A trio client for the raw upload port (SPEC §2.2): size prefix, MP4 file, 16-byte status."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

import trio

from app.client.address import DEFAULT_HOST, SERVER_ENV, ServerAddress
from app.client.connections import connect_or_fail
from app.client.errors import ConnectionFailed, ServerError
from app.protocol import ErrorCode, ErrorInfo, RemoteProtocolError, VcsError
from app.protocol.raw import (
    FTYP_CHECK_SIZE,
    MAX_RAW_FILE_SIZE,
    STATUS_SIZE,
    RawStatus,
    check_ftyp,
    decode_status,
    encode_size_prefix,
    error_code_for_status,
)
from app.wire.exception_groups import sole_exception
from app.wire.file_sender import send_file

DEFAULT_RAW_PORT: Final = 9001
RAW_SERVER_ENV: Final = "VCS_RAW_SERVER"
# Once the whole file is sent, the status must come within this long.
STATUS_TIMEOUT_S: Final = 120.0

_SOLUTIONS: Final = {
    ErrorCode.QUOTA_EXCEEDED: "Try again later or with a smaller file.",
    ErrorCode.DISK_FULL: "Try again later; tell the server's operator the disk is full.",
    ErrorCode.NOT_MP4: "Send an MP4 file (convert it first: ffmpeg -i IN -c copy OUT.mp4).",
    ErrorCode.PAYLOAD_TOO_LARGE: "Raw uploads are at most 4 GiB; use `vcs compress` instead.",
    ErrorCode.TOO_MANY_CONNECTIONS: "Close other connections to this server, then retry.",
    ErrorCode.BUSY: "Try again in a few seconds.",
    ErrorCode.SERVER_SHUTTING_DOWN: "Try again once the server is back.",
    ErrorCode.TIMEOUT: "Check the network path, then retry.",
    ErrorCode.TOO_SLOW: "The link is too slow for the server's limits; retry on a better one.",
}


class LocalFileRefused(VcsError):
    """The file cannot be sent over the raw protocol; found before connecting."""


def default_raw_address() -> ServerAddress:
    """$VCS_RAW_SERVER, else the host of $VCS_SERVER on port 9001, else 127.0.0.1:9001."""
    explicit = os.environ.get(RAW_SERVER_ENV)
    if explicit:
        return ServerAddress.parse(explicit, DEFAULT_RAW_PORT)
    mmp = os.environ.get(SERVER_ENV)
    host = ServerAddress.parse(mmp).host if mmp else DEFAULT_HOST
    return ServerAddress(host, DEFAULT_RAW_PORT)


def check_mp4_file(path: Path) -> int:
    """SPEC §2.2: the client checks it is sending an MP4 before it connects; returns the size."""
    size = path.stat().st_size
    with path.open("rb") as f:
        first = f.read(FTYP_CHECK_SIZE)
    try:
        check_ftyp(first, size)
    except RemoteProtocolError as exc:
        raise LocalFileRefused(
            ErrorCode.NOT_MP4,
            f"{path.name}: {exc.info.description}",
            "The raw upload port takes MP4 files only; `vcs compress` takes any video.",
        ) from None
    if size > MAX_RAW_FILE_SIZE:
        raise LocalFileRefused(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{path.name} is {size} bytes; raw uploads are at most 2^32 bytes.",
            "Use `vcs compress`, whose protocol takes larger files.",
        )
    return size


def refusal_for(status: RawStatus) -> ErrorInfo:
    code = error_code_for_status(status) or ErrorCode.INTERNAL
    return ErrorInfo(
        code,
        f"The server refused the upload: {status.code} {status.reason}.",
        _SOLUTIONS.get(code, "See the server's log; retry later."),
    )


async def _receive_status(stream: trio.SocketStream) -> bytes:
    raw = b""
    while len(raw) < STATUS_SIZE:
        data = await stream.receive_some(STATUS_SIZE - len(raw))
        if not data:
            raise ConnectionFailed(
                "The server closed the connection without a status.",
                "Check that the address is a vcs-serve raw upload port (default 9001).",
            )
        raw += data
    return raw


async def _exchange(
    stream: trio.SocketStream, path: Path, size: int, progress: Callable[[int], None] | None
) -> bytes:
    """Send prefix and file while waiting for the status; returns the status bytes."""
    with trio.CancelScope() as status_wait:

        async def send() -> None:
            try:
                await stream.send_all(encode_size_prefix(size))
                with path.open("rb") as f:
                    await send_file(stream, f, size, progress)
                await stream.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # the server answered early and closed; its status says why
            status_wait.deadline = trio.current_time() + STATUS_TIMEOUT_S

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                raw = await _receive_status(stream)
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise sole_exception(group) from None
        return raw
    raise ConnectionFailed(
        "The server sent no status after the upload.", "Check the server's log, then try again."
    )


async def upload_raw(
    address: ServerAddress,
    path: Path,
    progress: Callable[[int], None] | None = None,
    source_host: str | None = None,
) -> RawStatus:
    """Send `path`; return the server's success status or raise ServerError with its refusal.

    The status is read while the file is still going out, so an early refusal (quota,
    not an MP4) stops the upload at once.
    """
    size = check_mp4_file(path)
    stream = await connect_or_fail(
        address,
        source_host,
        "the raw upload port",
        "Start vcs-serve, or pass --server HOST:PORT (or set $VCS_RAW_SERVER).",
    )
    try:
        async with stream:
            raw = await _exchange(stream, path, size, progress)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        raise ConnectionFailed(
            f"The connection to {address} broke: {exc or type(exc).__name__}.",
            "Check that the server is still running, then try again.",
        ) from None
    try:
        status = decode_status(raw)
    except RemoteProtocolError as exc:
        raise ConnectionFailed(exc.info.description, exc.info.solution) from None
    if not status.ok:
        raise ServerError(refusal_for(status))
    return status
