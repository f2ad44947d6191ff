"""splice(2) from a real loopback TCP socket into a file: bytes, hash, limits, cancellation."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import trio

from app.files.atomic_write import AtomicFile
from app.protocol import MessageHead, encode_message_head
from app.protocol.errors import RemoteProtocolError
from app.wire import payload_receive
from app.wire.hash_follower import HashFollower
from app.wire.payload_receive import receive_payload
from app.wire.splice_receive import splice_available, splice_into_file
from app.wire.stream import MessageStream
from app.wire.thread_pump import PeerClosed
from app.wire.wait_guard import IdleGuard

pytestmark = pytest.mark.skipif(not splice_available(), reason="needs Linux splice(2)")
MiB = 1024 * 1024


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    await listeners[0].aclose()
    return client, server


def open_out(tmp_path: Path) -> int:
    return os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)


@pytest.mark.trio
async def test_exact_bytes_land_in_the_file(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 17)
    client, server = await tcp_pair()
    fd = open_out(tmp_path)
    written: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, data + b"next message")
        await splice_into_file(server.socket, fd, len(data), IdleGuard(5), written.append)
    os.close(fd)
    assert (tmp_path / "out").read_bytes() == data
    assert sum(written) == len(data)
    assert await server.receive_some(100) == b"next message"  # nothing read past the end


@pytest.mark.trio
async def test_a_peer_closing_early_says_how_much_was_missing(tmp_path: Path) -> None:
    client, server = await tcp_pair()
    fd = open_out(tmp_path)
    await client.send_all(bytes(1000))
    await client.aclose()
    with pytest.raises(PeerClosed) as closed:
        await splice_into_file(server.socket, fd, 5000, IdleGuard(5))
    os.close(fd)
    assert closed.value.missing == 4000


@pytest.mark.trio
async def test_silence_past_the_idle_limit_raises(tmp_path: Path) -> None:
    client, server = await tcp_pair()
    fd = open_out(tmp_path)
    await client.send_all(bytes(1000))
    with pytest.raises(trio.TooSlowError):
        await splice_into_file(server.socket, fd, 5000, IdleGuard(0.3))
    os.close(fd)


@pytest.mark.trio
async def test_cancellation_stops_the_thread_before_returning(tmp_path: Path) -> None:
    client, server = await tcp_pair()
    fd = open_out(tmp_path)
    with trio.move_on_after(0.3) as scope:
        await splice_into_file(server.socket, fd, 5000, IdleGuard())
    assert scope.cancelled_caught
    os.close(fd)  # safe: no thread uses it any more
    await client.aclose()


def test_the_follower_hashes_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(2 * MiB + 5)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    digest = hashlib.sha256(data[:100])
    follower = HashFollower(fd, 100, digest)
    follower.advance(MiB)
    follower.advance(len(data) - 100 - MiB)
    follower.close()
    follower.run()
    os.close(fd)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.trio
async def test_a_message_payload_is_spliced_after_its_buffered_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = os.urandom(2 * MiB + 3)
    wire = encode_message_head({"op": "x"}, "mp4", len(payload)) + payload
    client, server = await tcp_pair()
    ms = MessageStream(server, idle_timeout_s=5)
    spliced: list[int] = []
    with AtomicFile(tmp_path, hash_it=True) as sink:

        async def counting_splice(sock, fd, size, guard, on_written):
            spliced.append(size)
            await splice_into_file(sock, fd, size, guard, on_written)

        monkeypatch.setattr(payload_receive, "splice_into_file", counting_splice)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_all, wire + encode_message_head({"op": "y"}))
            head = await ms.next_event()
            assert isinstance(head, MessageHead)
            await receive_payload(ms, sink)
        await sink.commit(tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == payload
    assert sink.hexdigest() == hashlib.sha256(payload).hexdigest()
    assert spliced and spliced[0] > MiB  # most of it went around the event loop
    next_head = await ms.next_event()  # and the decoder goes on with the next message
    assert isinstance(next_head, MessageHead) and next_head.json == {"op": "y"}


@pytest.mark.trio
async def test_a_cut_payload_is_the_decoders_truncated_error(tmp_path: Path) -> None:
    wire = encode_message_head({"op": "x"}, "mp4", 4 * MiB) + bytes(2 * MiB)
    client, server = await tcp_pair()
    ms = MessageStream(server, idle_timeout_s=5)

    async def send_and_close() -> None:
        await client.send_all(wire)
        await client.aclose()

    with AtomicFile(tmp_path) as sink:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_and_close)
            assert isinstance(await ms.next_event(), MessageHead)
            with pytest.raises(RemoteProtocolError) as truncated:
                await receive_payload(ms, sink)
    assert truncated.value.code == "truncated"
    assert list(tmp_path.iterdir()) == []  # the partial file went with the block
