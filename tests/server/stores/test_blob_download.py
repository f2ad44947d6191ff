"""A download's payload from either blob store, over a real socket pair, byte-exact."""

from __future__ import annotations

import os

import pytest
import trio

from app.server.blob_download import send_blob
from app.server.stores.blob_store import BlobStore, result_key
from app.wire.stream import MessageStream
from tests.server.stores.test_blob_stores import MiB, store, write_blob

__all__ = ["store"]  # the two-backend fixture


async def receive_all(stream: trio.SocketStream, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        data = await stream.receive_some(256 * 1024)
        if not data:
            break
        out += data
    return bytes(out)


@pytest.mark.trio
@pytest.mark.parametrize("size", [1, 1400, 3 * MiB + 777])
async def test_send_blob_is_byte_exact(store: BlobStore, size: int) -> None:
    await store.prepare()
    data = os.urandom(size)
    key = result_key(f"dl{size}", 1, "mp4")
    await write_blob(store, key, data)
    a, b = trio.socket.socketpair()
    sender, receiver = trio.SocketStream(a), trio.SocketStream(b)
    got: list[bytes] = []

    async def read() -> None:
        got.append(await receive_all(receiver, size))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        async with store.open(key) as source:
            await send_blob(MessageStream(sender), source, size)
    assert got == [data]
    await sender.aclose()
    await receiver.aclose()


@pytest.mark.trio
async def test_a_blob_shorter_than_its_record_is_an_error(store: BlobStore) -> None:
    await store.prepare()
    key = result_key("short", 1, "mp4")
    await write_blob(store, key, b"x" * 5000)
    a, b = trio.socket.socketpair()
    sender, receiver = trio.SocketStream(a), trio.SocketStream(b)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive_all, receiver, 10_000)
        with pytest.raises(OSError) as ended:  # BlobEndedEarly is one
            async with store.open(key) as source:
                await send_blob(MessageStream(sender), source, 10_000)
        assert "5000" in str(ended.value)  # how much arrived before the store ran dry
        await sender.aclose()
    await receiver.aclose()
