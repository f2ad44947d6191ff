"""SecureStream: MessageStream works unchanged on top, the wire carries only sealed records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
import trio.testing

from app.protocol import ErrorCode, MessageDecoder, MessageEnd, RemoteProtocolError, limits
from app.protocol.encoder import encode_message_head
from app.protocol.secure.records import MAX_RECORD_SIZE
from app.wire.secure_stream import SecureStream
from app.wire.stream import MessageStream
from tests.support.secure_sessions import exchange


class RecordingStream(trio.abc.HalfCloseableStream):
    """Passes everything through; remembers the size of every send_all and what it sent."""

    def __init__(self, inner: trio.abc.HalfCloseableStream) -> None:
        self.inner = inner
        self.send_sizes: list[int] = []
        self.sent = bytearray()

    async def send_all(self, data) -> None:
        self.send_sizes.append(len(data))
        self.sent += data
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return bytes(await self.inner.receive_some(max_bytes))

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def sessions(client_key, server_key):
    return exchange(client_key, server_key)


@pytest.mark.trio
async def test_a_streamed_payload_crosses_in_whole_packet_batches(sessions, tmp_path: Path):
    client_session, server_session = sessions
    left, right = trio.testing.memory_stream_pair()
    wire = RecordingStream(left)
    sender = MessageStream(SecureStream(wire, client_session))
    receiver = MessageStream(SecureStream(right, server_session))
    payload = os.urandom(1_000_003)
    path = tmp_path / "payload.bin"
    path.write_bytes(payload)
    doc = {"op": "compress", "filename": "secret-name.mp4"}
    received = bytearray()

    async def receive() -> None:
        head = await receiver.receive_head()
        assert head is not None and head.json == doc and head.media_type == "mp4"
        await receiver.receive_payload(received.extend)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await sender.send_message(doc, media_type="mp4", payload_size=len(payload))
        with path.open("rb") as f:
            await sender.send_file(f, len(payload))
    assert received == payload
    # docs/protocol.md: the payload leaves in batches of whole 1,400-byte units (all but the last),
    # each batch several full records.
    payload_sends = wire.send_sizes[1:]
    assert all(size % limits.PACKET_SIZE == 0 for size in payload_sends[:-1])
    assert all(size >= 4 * MAX_RECORD_SIZE for size in payload_sends[:-1])
    assert b"secret-name" not in wire.sent and payload[:64] not in wire.sent


@pytest.mark.trio
async def test_close_record_ends_cleanly_and_a_cut_is_refused(sessions) -> None:
    client_session, server_session = sessions
    left, right = trio.testing.memory_stream_pair()
    sender, receiver = SecureStream(left, client_session), SecureStream(right, server_session)
    await sender.send_all(b"last words")
    await sender.send_eof()
    assert await receiver.receive_some(1000) == b"last words"
    assert await receiver.receive_some(1000) == b""
    assert await receiver.receive_some(1000) == b""

    left, right = trio.testing.memory_stream_pair()
    sender, receiver = SecureStream(left, client_session), SecureStream(right, server_session)
    await sender.send_all(b"cut short")
    await left.aclose()  # the socket ends without a close record
    assert await receiver.receive_some(1000) == b"cut short"
    with pytest.raises(RemoteProtocolError) as refused:
        await receiver.receive_some(1000)
    assert refused.value.code is ErrorCode.TRUNCATED


@pytest.mark.trio
async def test_a_tampered_record_breaks_the_stream(sessions) -> None:
    client_session, server_session = sessions
    left, right = trio.testing.memory_stream_pair()
    sealed = SecureStream(left, client_session)._sealer.seal(b"transfer 10 EUR")
    tampered = bytearray(sealed)
    tampered[5] ^= 0x20
    await left.send_all(bytes(tampered))
    receiver = SecureStream(right, server_session)
    with pytest.raises(RemoteProtocolError) as refused:
        await receiver.receive_some(1000)
    assert refused.value.code is ErrorCode.BAD_RECORD
    with pytest.raises(trio.BrokenResourceError):
        await receiver.receive_some(1000)


@pytest.mark.trio
async def test_records_that_arrived_with_the_handshake_are_not_lost(sessions) -> None:
    """The finish message and the first sealed request often share one TCP read."""
    client_session, server_session = sessions
    left, right = trio.testing.memory_stream_pair()
    client_side = SecureStream(left, client_session)
    first_record = client_side._sealer.seal(b'{"op":"status"}')
    decoder = MessageDecoder()
    decoder.feed(encode_message_head({"op": "key_exchange_finish"}) + first_record)
    decoder.next_event()
    assert isinstance(decoder.next_event(), MessageEnd)
    server_side = SecureStream(right, server_session, decoder.take_trailing_data())
    assert await server_side.receive_some(1000) == b'{"op":"status"}'
