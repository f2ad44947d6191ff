"""One raw upload connection (SPEC §2.2): size prefix, MP4 file, one 16-byte status.

Everything a raw upload may be refused for is settled before a payload byte is
stored: the prefix, the size (≤ 2^32, ≥ an ftyp box), the quota (reserved from the
declared size). The first 16 bytes must be an `ftyp` box. The file is stored through
an AtomicFile (app/wire/atomic_write.py): a refusal, a disconnect or a crash leaves
nothing behind.
"""

from __future__ import annotations

import logging
from typing import Final

import trio

from app.protocol import ConnectionClosed, ErrorCode, ErrorInfo, VcsError
from app.protocol.raw import (
    STORED,
    RawEvent,
    RawStatus,
    RawUploadDecoder,
    RawUploadHead,
    encode_status,
    status_for_error,
)
from app.server.state import ServerState
from app.server.storage import refusing_when_disk_full
from app.server.transfer_rate import RateGuardedStream, TransferTooSlow
from app.server.upload_accounting import counting_received
from app.wire.event_reader import RECEIVE_SIZE, EventReader
from app.wire.payload_receive import receive_payload

log = logging.getLogger(__name__)

# After answering we half-close and drop what the client still sends for this long,
# so it reads the status instead of a reset.
LINGER_AFTER_ANSWER_S: Final = 2.0


async def refuse_raw_connection(stream: trio.SocketStream, info: ErrorInfo) -> None:
    """The answer to a connection the limits turned away (busy, per-IP cap)."""
    await stream.send_all(encode_status(status_for_error(info.code)))


async def _receive_upload(
    reader: EventReader[RawEvent], state: ServerState, ip: str
) -> RawStatus | None:
    event = await reader.next_event()
    if isinstance(event, ConnectionClosed):
        return None  # connected and left without a byte
    assert isinstance(event, RawUploadHead), event
    if not state.accepting:
        raise VcsError(
            ErrorCode.SERVER_SHUTTING_DOWN, "The server is shutting down.", "Try again later."
        )
    store = state.raw_store
    reservation = store.reserve(event.size, ip)
    try:
        with refusing_when_disk_full(), store.partial() as partial:
            await receive_payload(
                reader, partial, counting_received(state.metrics, "raw", reservation)
            )
            path = store.new_path()
            await partial.commit(path)
    except BaseException:
        reservation.release()
        raise
    reservation.arrived()
    store.add(path, reservation)
    log.info("raw upload of %d bytes (%s) stored as %s", event.size, event.encoding.value, path)
    return STORED


async def _answer(stream: trio.SocketStream, status: RawStatus) -> None:
    with trio.move_on_after(LINGER_AFTER_ANSWER_S):
        try:
            await stream.send_all(encode_status(status))
            await stream.send_eof()
            while await stream.receive_some(RECEIVE_SIZE):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def handle_raw_connection(stream: trio.SocketStream, state: ServerState, ip: str) -> None:
    """Receive one raw upload from `ip` and answer it."""
    config = state.config
    decoder = RawUploadDecoder()
    guarded = RateGuardedStream(
        stream, config.min_transfer_rate, config.transfer_window_s, lambda: decoder.started
    )
    reader: EventReader[RawEvent] = EventReader(guarded, decoder, config.idle_timeout_s)
    status: RawStatus | None = None
    refusal: ErrorCode | None = None
    try:
        try:
            status = await _receive_upload(reader, state, ip)
        except TransferTooSlow:
            refusal = ErrorCode.TOO_SLOW
        except trio.TooSlowError:
            refusal = ErrorCode.TIMEOUT
        except VcsError as exc:  # includes the decoder's RemoteProtocolError
            refusal = exc.code
            log.debug("raw upload from %s refused: %s", ip, exc.info.description)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the client went away; the partial file is already gone
        except Exception:
            log.exception("internal error on a raw upload from %s", ip)
            refusal = ErrorCode.INTERNAL
        if refusal is not None:
            state.metrics.count_refusal("raw", refusal)
            status = status_for_error(refusal)
        if status is not None:
            await _answer(stream, status)
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()
