"""The slow-transfer rule on a real socket pair, in virtual time (trio's autojump clock)."""

from __future__ import annotations

import pytest
import trio

from app.server.transfer_rate import RateGuardedStream, TransferTooSlow


async def socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


async def drain(guarded: RateGuardedStream) -> int:
    total = 0
    while data := await guarded.receive_some(65536):
        total += len(data)
    return total


@pytest.mark.trio
async def test_a_peer_sending_one_byte_a_second_is_dropped(autojump_clock) -> None:
    server, peer = await socket_pair()
    guarded = RateGuardedStream(server, 100, 5, lambda: True)

    async def trickle() -> None:
        for _ in range(60):
            await peer.send_all(b"x")
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trickle)
        start = trio.current_time()
        with pytest.raises(TransferTooSlow) as info:
            await drain(guarded)
        nursery.cancel_scope.cancel()
    assert 4.9 <= trio.current_time() - start <= 6
    assert info.value.info.code == "too_slow"


@pytest.mark.trio
async def test_a_steady_peer_and_a_pause_between_messages_are_fine(autojump_clock) -> None:
    server, peer = await socket_pair()
    received = [0]
    # As with MMP's decoder: a message is in progress until its 6,000 bytes are in.
    guarded = RateGuardedStream(server, 100, 5, lambda: 0 < received[0] < 6000)

    async def steady() -> None:
        for _ in range(30):  # 200 bytes/s for 30 s
            await peer.send_all(b"y" * 200)
            await trio.sleep(1)
        await trio.sleep(120)  # between messages: the idle timeout's business, not ours
        await peer.send_all(b"next")
        await peer.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(steady)
        while data := await guarded.receive_some(65536):
            received[0] += len(data)
    assert received[0] == 6004


@pytest.mark.trio
async def test_time_the_server_spends_elsewhere_is_not_the_peers(autojump_clock) -> None:
    server, peer = await socket_pair()
    guarded = RateGuardedStream(server, 100, 5, lambda: True)
    await peer.send_all(b"z" * 300)
    await guarded.receive_some(100)
    await trio.sleep(60)  # e.g. a slow disk: the peer's bytes wait in the socket
    assert len(await guarded.receive_some(1000)) == 200


@pytest.mark.trio
async def test_a_peer_that_stops_reading_cannot_pin_a_send(autojump_clock) -> None:
    server, _peer = await socket_pair()
    guarded = RateGuardedStream(server, 1000, 2, lambda: False)
    start = trio.current_time()
    with pytest.raises(TransferTooSlow):
        for _ in range(1000):  # far more than the socket buffers hold
            await guarded.send_all(b"d" * 89_600)
    assert trio.current_time() - start < 200
