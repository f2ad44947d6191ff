"""One client connection: read requests, dispatch them, answer errors in the peer's dialect."""

from __future__ import annotations

import logging
from typing import Final

import trio

from app.protocol import Dialect, ErrorCode, ErrorInfo, MessageHead, RemoteProtocolError, VcsError
from app.protocol.secure import is_key_exchange
from app.server import requests
from app.server.client_address import read_client_address
from app.server.encryption import accept_encryption, refuse_plaintext
from app.server.ops import UPLOAD_OPS
from app.server.state import ServerState
from app.server.transfer_rate import RateGuardedStream, TransferTooSlow
from app.wire.event_reader import RECEIVE_SIZE
from app.wire.sockets import peer_host
from app.wire.stream import MessageStream
from app.wire.transport import bottom_stream

log = logging.getLogger(__name__)

# After an error we half-close and read (and drop) what the peer still sends for this
# long, so that it can read our answer instead of getting a reset.
LINGER_AFTER_ERROR_S: Final = 2.0

QUERY_OPS: Final = {
    "status": requests.handle_status,
    "download": requests.handle_download,
    "cancel": requests.handle_cancel,
}


def _unknown_op(op: object) -> VcsError:
    known = ", ".join([*UPLOAD_OPS, *QUERY_OPS])
    return VcsError(
        ErrorCode.UNKNOWN_OP,
        f"Unknown op {op!r:.40}." if op is not None else "The request's JSON has no 'op' field.",
        f'Set "op" to one of: {known}.',
    )


def _timeout_error(idle_timeout_s: float) -> ErrorInfo:
    return ErrorInfo(
        ErrorCode.TIMEOUT,
        f"Nothing arrived for {idle_timeout_s:.0f} s in the middle of a message.",
        "Send the whole message without pauses; check the network path.",
    )


async def _dispatch(head: MessageHead, ms: MessageStream, ip: str, state: ServerState) -> None:
    op = head.json.get("op")
    if isinstance(op, str) and op in UPLOAD_OPS:
        await requests.handle_upload(head, ms, ip, state)
    elif isinstance(op, str) and op in QUERY_OPS:
        requests.refuse_payload(head)
        await ms.receive_end()
        await QUERY_OPS[op](head, ms, state)
    else:
        raise _unknown_op(op)


async def _answer_and_close(
    ms: MessageStream, info: ErrorInfo, dialect: Dialect, state: ServerState
) -> None:
    """Send the error JSON, half-close, drain briefly, close: the peer reads a clean answer."""
    state.metrics.count_refusal("mmp", info.code)
    with trio.move_on_after(LINGER_AFTER_ERROR_S):
        try:
            await ms.send_error(info, dialect)
            stream = ms.stream
            if isinstance(stream, trio.abc.HalfCloseableStream):
                await stream.send_eof()
            # Drain raw bytes: what a sealed stream still brings is not worth opening.
            raw = bottom_stream(stream)
            while await raw.receive_some(RECEIVE_SIZE):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def handle_connection(
    stream: trio.SocketStream, state: ServerState, ip: str | None = None
) -> None:
    """Serve requests until the peer closes, stays idle too long, or gets an error."""
    if ip is None:
        try:
            ip = peer_host(stream)
        except OSError:  # reset before we looked (e.g. a balancer's TCP health check)
            with trio.CancelScope(shield=True):
                await stream.aclose()
            return
    config = state.config
    guarded = RateGuardedStream(
        stream, config.min_transfer_rate, config.transfer_window_s, lambda: ms.decoder.in_message
    )
    ms = MessageStream(guarded, config.idle_timeout_s)
    first_message = True  # only a first message may open encryption (SPEC §6)
    try:
        try:
            with trio.fail_after(state.config.idle_timeout_s):
                intake = await read_client_address(
                    stream, ip, state.config.proxy_protocol, state.config.trusted_proxies
                )
        except trio.TooSlowError:
            return
        except RemoteProtocolError as exc:
            await _answer_and_close(ms, exc.info, Dialect.HEADER64, state)
            return
        if intake is None:
            return  # connected and closed without a byte: a TCP health check
        ip, first_bytes = intake
        if first_bytes:
            ms.decoder.feed(first_bytes)
        while True:
            dialect = Dialect.HEADER64
            try:
                head = await ms.receive_head()
                if head is None:
                    return
                dialect = head.dialect
                opens_encryption = first_message and is_key_exchange(head.json)
                first_message = False
                if opens_encryption:
                    try:
                        ms = await accept_encryption(head, ms, state, ip)
                    except VcsError as exc:
                        state.metrics.count_handshake_refusal(exc.code)
                        raise
                    continue
                refuse_plaintext(ms, state)
                await _dispatch(head, ms, ip, state)
            except trio.TooSlowError as exc:
                if ms.decoder.in_message:
                    info = (
                        exc.info
                        if isinstance(exc, TransferTooSlow)
                        else _timeout_error(ms.idle_timeout_s)
                    )
                    await _answer_and_close(ms, info, dialect, state)
                return  # idle between messages: just close
            except VcsError as exc:  # includes RemoteProtocolError
                if isinstance(exc, RemoteProtocolError) and ms.decoder.last_dialect:
                    dialect = ms.decoder.last_dialect
                if exc.code is not ErrorCode.TRUNCATED:
                    await _answer_and_close(ms, exc.info, dialect, state)
                return
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return  # the peer went away; every handler has already cleaned up
    except Exception:
        log.exception("internal error on a connection from %s", ip)
        await _answer_and_close(
            ms,
            ErrorInfo(
                ErrorCode.INTERNAL,
                "The server hit an internal error.",
                "Try again; if it repeats, report it to the operator.",
            ),
            Dialect.HEADER64,
            state,
        )
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()
