"""The sealed fast path on real loopback sockets: a worker thread each way seals or opens
whole records between reused buffers; bytes, hashes, record sizes, refusals, cuts and
cancellation behave as on the record-by-record path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import trio

from app.files.atomic_write import AtomicFile
from app.protocol import ErrorCode, MessageHead, RemoteProtocolError, limits
from app.protocol.encoder import encode_message_head
from app.protocol.secure.records import HEADER_SIZE, MAX_RECORD_SIZE
from app.wire import sealed_pump
from app.wire.payload_receive import receive_payload
from app.wire.secure_stream import SecureStream
from app.wire.sockets import connect, open_listener
from app.wire.stream import MessageStream
from tests.support.secure_sessions import exchange

MiB = 1024 * 1024


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listener = await open_listener("127.0.0.1", 0)
    client = await connect("127.0.0.1", listener.socket.getsockname()[1])
    server = await listener.accept()
    await listener.aclose()
    return client, server


@pytest.fixture
def sessions(client_key, server_key):
    return exchange(client_key, server_key)


@pytest.fixture
def payload_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(5 * MiB + 12_345)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return path, data


@pytest.mark.trio
async def test_a_sealed_payload_crosses_both_pumps_and_the_next_message_follows(
    sessions, payload_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_session, server_session = sessions
    path, data = payload_file
    client, server = await tcp_pair()
    sender = MessageStream(SecureStream(client, client_session))
    receiver = MessageStream(SecureStream(server, server_session), idle_timeout_s=10)
    pumped: list[str] = []
    for name in ("send_sealed_file", "receive_sealed_into"):
        real = getattr(sealed_pump, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            pumped.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(f"app.wire.file_sender.{name}", counting, raising=False)
        monkeypatch.setattr(f"app.wire.payload_receive.{name}", counting, raising=False)
    sent_digest = hashlib.sha256()
    out = tmp_path / "out"
    progress: list[int] = []

    async def send() -> None:
        await sender.send_message({"op": "x"}, media_type="bin", payload_size=len(data))
        with path.open("rb") as f:
            await sender.send_file(f, len(data), digest=sent_digest)
        await sender.send_message({"op": "next"})  # sealed at once after the payload

    with AtomicFile(tmp_path, hash_it=True) as sink:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            head = await receiver.next_event()
            assert isinstance(head, MessageHead) and head.payload_size == len(data)
            await receive_payload(receiver, sink, progress.append)
        await sink.commit(out)
    assert sorted(pumped) == ["receive_sealed_into", "send_sealed_file"]
    assert out.read_bytes() == data
    assert sink.hexdigest() == sent_digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert sum(progress) == len(data)
    assert await receiver.receive_message() == {"op": "next"}


@pytest.mark.trio
async def test_pumped_records_are_whole_1400_byte_units(sessions, payload_file) -> None:
    """docs/protocol.md: every full record of the payload is 46 units; only its last is shorter."""
    client_session, server_session = sessions
    path, data = payload_file
    client, server = await tcp_pair()
    wire = bytearray()

    async def read_all() -> None:
        while chunk := await server.receive_some(1 << 20):
            wire.extend(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        secure = SecureStream(client, client_session)
        with path.open("rb") as f:
            await MessageStream(secure).send_file(f, len(data))
        await secure.aclose()
    sizes = []
    at = 0
    while at < len(wire):
        size = HEADER_SIZE + int.from_bytes(wire[at : at + 2], "big")
        sizes.append(size)
        at += size
    payload_records, close = sizes[:-1], sizes[-1]
    assert all(size == MAX_RECORD_SIZE for size in payload_records[:-1])
    assert MAX_RECORD_SIZE % limits.PACKET_SIZE == 0
    assert payload_records[-1] < MAX_RECORD_SIZE and close == HEADER_SIZE + 16
    opener = server_session.opener()
    opener.feed(bytes(wire))
    opened = bytearray()
    while isinstance(record := opener.next_record(), bytes):
        opened += record
    assert opened == data


async def _receive_into_sink(receiver: MessageStream, tmp_path: Path) -> None:
    with AtomicFile(tmp_path, hash_it=True) as sink:
        head = await receiver.next_event()
        assert isinstance(head, MessageHead)
        await receive_payload(receiver, sink)


@pytest.mark.trio
async def test_a_flipped_bit_mid_payload_is_refused_and_nothing_is_kept(
    sessions, payload_file, tmp_path: Path
) -> None:
    client_session, server_session = sessions
    _, data = payload_file
    client, server = await tcp_pair()
    # What the client would send, altered in the middle of the payload's records.
    sealer = client_session.sealer()
    wire = bytearray(sealer.seal(encode_message_head({"op": "x"}, "bin", len(data))))
    wire += sealer.seal(data)
    wire[len(wire) // 2] ^= 0x10
    receiver = MessageStream(SecureStream(server, server_session), idle_timeout_s=10)
    out_dir = tmp_path / "sink"
    out_dir.mkdir()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, bytes(wire))
        with pytest.raises(RemoteProtocolError) as refused:
            await _receive_into_sink(receiver, out_dir)
        nursery.cancel_scope.cancel()
    assert refused.value.code is ErrorCode.BAD_RECORD
    assert list(out_dir.iterdir()) == []
    with pytest.raises(trio.BrokenResourceError):  # the stream stays broken
        await receiver.stream.receive_some(100)


@pytest.mark.trio
async def test_a_cut_mid_payload_is_a_truncation(sessions, payload_file, tmp_path: Path) -> None:
    client_session, server_session = sessions
    _, data = payload_file
    client, server = await tcp_pair()
    secure = SecureStream(client, client_session)
    receiver = MessageStream(SecureStream(server, server_session), idle_timeout_s=10)

    async def send_half_then_cut() -> None:
        ms = MessageStream(secure)
        await ms.send_message({"op": "x"}, media_type="bin", payload_size=len(data))
        await secure.send_all(data[: 3 * MiB])
        await client.aclose()  # no close record: a cut

    out_dir = tmp_path / "sink"
    out_dir.mkdir()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_half_then_cut)
        with pytest.raises(RemoteProtocolError) as refused:
            await _receive_into_sink(receiver, out_dir)
    assert refused.value.code is ErrorCode.TRUNCATED
    assert list(out_dir.iterdir()) == []


@pytest.mark.trio
@pytest.mark.parametrize(("idle_timeout_s", "cancel_after_s"), [(0.5, 30.0), (60.0, 0.5)])
async def test_silence_mid_payload_times_out_and_cancellation_stops_the_thread(
    sessions, payload_file, tmp_path: Path, idle_timeout_s: float, cancel_after_s: float
) -> None:
    client_session, server_session = sessions
    _, data = payload_file
    client, server = await tcp_pair()
    secure = SecureStream(client, client_session)
    receiver = MessageStream(SecureStream(server, server_session), idle_timeout_s)

    async def send_part_then_stall() -> None:
        ms = MessageStream(secure)
        await ms.send_message({"op": "x"}, media_type="bin", payload_size=len(data))
        await secure.send_all(data[: 2 * MiB])
        await trio.sleep_forever()

    out_dir = tmp_path / "sink"
    out_dir.mkdir()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_part_then_stall)
        with trio.move_on_after(cancel_after_s) as scope:
            if idle_timeout_s < 1:
                with pytest.raises(trio.TooSlowError):
                    await _receive_into_sink(receiver, out_dir)
            else:
                await _receive_into_sink(receiver, out_dir)
        nursery.cancel_scope.cancel()
    assert scope.cancelled_caught == (idle_timeout_s > 1)
    assert list(out_dir.iterdir()) == []  # the thread is gone: the file could go
    await client.aclose()
    await server.aclose()
