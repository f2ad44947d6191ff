"""Sealed records (SPEC §6): whatever is altered, dropped, replayed, reordered or cut is refused."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.protocol import ConnectionClosed, ErrorCode, LocalProtocolError, NeedData
from app.protocol import RemoteProtocolError as Refused
from app.protocol.secure.records import (
    HEADER_SIZE,
    MAX_PLAINTEXT,
    MAX_RECORD_SIZE,
    ChannelKey,
    Cipher,
    Direction,
    RecordOpener,
    RecordSealer,
)

KEY = bytes(range(32))
SESSION = bytes(range(100, 132))


def channel(
    cipher: Cipher = Cipher.AES_256_GCM,
    session: bytes = SESSION,
    direction: Direction = Direction.CLIENT_TO_SERVER,
) -> ChannelKey:
    return ChannelKey(cipher, KEY, session, direction)


def split_records(wire: bytes) -> list[bytes]:
    records = []
    while wire:
        size = HEADER_SIZE + int.from_bytes(wire[:2], "big")
        records.append(wire[:size])
        wire = wire[size:]
    return records


def open_all(wire: bytes | list[bytes], opener: RecordOpener | None = None) -> bytes:
    """Feed everything and the end of stream; the plaintext up to the close record."""
    opener = opener or RecordOpener(channel())
    for chunk in [wire] if isinstance(wire, bytes) else wire:
        if chunk:
            opener.feed(chunk)
    opener.feed(b"")
    out = bytearray()
    while not isinstance(record := opener.next_record(), ConnectionClosed):
        assert not isinstance(record, NeedData)
        out += record
    return bytes(out)


def sealed_stream(*chunks: bytes, close: bool = True, ch: ChannelKey | None = None) -> bytes:
    sealer = RecordSealer(ch or channel())
    wire = b"".join(sealer.seal(chunk) for chunk in chunks)
    return wire + (sealer.seal_close() if close else b"")


@pytest.mark.parametrize("cipher", list(Cipher))
def test_round_trip_in_full_records_of_whole_packets(cipher: Cipher) -> None:
    data = os.urandom(3 * MAX_PLAINTEXT + 5)
    wire = sealed_stream(data, b"tail", ch=channel(cipher))
    records = split_records(wire)
    # SPEC §2: a full record is a whole number of 1,400-byte units (46: 64,400 bytes).
    assert [len(r) for r in records[:3]] == [MAX_RECORD_SIZE] * 3 == [46 * 1400] * 3
    assert len(records) == 6  # 3 full, the 5-byte rest, "tail", close
    assert open_all(wire, RecordOpener(channel(cipher))) == data + b"tail"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=40_000), min_size=1, max_size=4),
    st.lists(st.integers(min_value=1, max_value=50_000), max_size=20),
)
def test_any_split_opens_to_the_same_bytes(chunks: list[bytes], cuts: list[int]) -> None:
    wire = sealed_stream(*chunks)
    pieces, start = [], 0
    for cut in sorted(set(cuts)):
        if cut < len(wire):
            pieces.append(wire[start:cut])
            start = cut
    pieces.append(wire[start:])
    opener = RecordOpener(channel())
    out = bytearray()
    for piece in pieces:
        opener.feed(piece)
        while isinstance(record := opener.next_record(), bytes):
            out += record
    assert bytes(out) == b"".join(chunks)
    assert isinstance(opener.next_record(), ConnectionClosed)


def test_a_stream_fed_byte_by_byte_opens() -> None:
    wire = sealed_stream(b"one", b"two" * 1000)
    assert open_all([wire[i : i + 1] for i in range(len(wire))]) == b"one" + b"two" * 1000


def test_every_single_bit_flip_is_refused() -> None:
    """Flip each bit of a small sealed stream in turn: the flipped record never opens."""
    wire = sealed_stream(b"first record", b"second", b"third")
    boundaries = [0]
    for record in split_records(wire):
        boundaries.append(boundaries[-1] + len(record))
    for bit in range(len(wire) * 8):
        flipped = bytearray(wire)
        flipped[bit // 8] ^= 1 << (bit % 8)
        record_index = max(i for i, start in enumerate(boundaries) if start <= bit // 8)
        opener = RecordOpener(channel())
        opener.feed(bytes(flipped))
        opener.feed(b"")
        opened: list[bytes] = []
        with pytest.raises(Refused) as refused:
            while isinstance(record := opener.next_record(), bytes):
                opened.append(record)
        # Records before the flipped one open; the flipped one and all after never do.
        assert opened == [b"first record", b"second", b"third"][:record_index]
        assert refused.value.code in (ErrorCode.BAD_RECORD, ErrorCode.TRUNCATED)


def test_dropped_replayed_and_reordered_records_are_refused() -> None:
    records = split_records(sealed_stream(b"a", b"b", b"c", b"d"))
    for altered in (
        records[:1] + records[2:],  # dropped
        records[:2] + records[1:],  # replayed
        [records[0], records[2], records[1], *records[3:]],  # reordered
        records[:4] + records[:1] + records[4:],  # an old record replayed late
    ):
        with pytest.raises(Refused) as refused:
            open_all(altered)
        assert refused.value.code is ErrorCode.BAD_RECORD


def test_records_are_bound_to_their_session_and_direction() -> None:
    wire = sealed_stream(b"request")
    for other in (
        channel(session=bytes(32)),  # same key, another connection's transcript
        channel(direction=Direction.SERVER_TO_CLIENT),  # reflected back to its sender
        channel(cipher=Cipher.CHACHA20_POLY1305),
    ):
        with pytest.raises(Refused):
            open_all(wire, RecordOpener(other))


def test_a_cut_stream_is_refused_at_every_offset() -> None:
    wire = sealed_stream(b"x" * 100, b"y" * 100)
    for cut in range(len(wire)):
        with pytest.raises(Refused) as refused:
            open_all(wire[:cut])
        assert refused.value.code is ErrorCode.TRUNCATED
    assert open_all(wire) == b"x" * 100 + b"y" * 100


def test_nothing_may_follow_the_close_record() -> None:
    with pytest.raises(Refused):
        open_all(sealed_stream(b"a") + sealed_stream(b"b"))
    sealer = RecordSealer(channel())
    sealer.seal_close()
    with pytest.raises(LocalProtocolError):
        sealer.seal(b"late")


def test_impossible_headers_are_refused_without_waiting_for_more_bytes() -> None:
    opener = RecordOpener(channel())
    opener.feed(b"\xff\xff\x00")  # longer than any record: no need to wait for its body
    with pytest.raises(Refused):
        opener.next_record()
    opener = RecordOpener(channel())
    opener.feed(b"\x00\x00" + b"\x00" * 62)  # a plaintext MMP header where a record belongs
    with pytest.raises(Refused):
        opener.next_record()


def test_nonces_never_repeat_so_equal_plaintexts_seal_differently() -> None:
    sealer = RecordSealer(channel())
    first, second = sealer.seal(b"same bytes"), sealer.seal(b"same bytes")
    assert first != second and sealer.records_sealed == 2
    close = sealer.seal_close()
    # The sequence number, not the bytes, tells them apart: each opens only in its place.
    assert open_all([first, second, close]) == b"same bytes" * 2
    with pytest.raises(Refused) as refused:
        open_all([second, first, close])
    assert refused.value.code is ErrorCode.BAD_RECORD


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8), st.booleans())
def test_any_bytes_open_or_are_refused(chunks: list[bytes], eof: bool) -> None:
    """Garbage never raises anything but a refusal, and never opens."""
    opener = RecordOpener(channel())
    try:
        for chunk in chunks:
            if chunk:
                opener.feed(chunk)
        if eof:
            opener.feed(b"")
        assert isinstance(opener.next_record(), NeedData)
    except Refused:
        pass


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=150_000), min_size=1, max_size=4),
    st.lists(st.integers(min_value=1, max_value=400_000), max_size=10),
    st.integers(min_value=MAX_PLAINTEXT, max_value=4 * MAX_PLAINTEXT),
)
def test_buffer_to_buffer_sealing_and_opening_match_the_record_api(
    chunks: list[bytes], cuts: list[int], room: int
) -> None:
    """`seal_into`/`open_into` (the pumps' path) make and read the very same records."""
    sealer = RecordSealer(channel())
    wire = bytearray()
    for chunk in chunks:
        out = bytearray(sealer.sealed_size(len(chunk)))
        assert sealer.seal_into(memoryview(chunk), memoryview(out)) == len(out)
        wire += out
    wire += sealer.seal_close()
    assert bytes(wire) == sealed_stream(*chunks)  # the same bytes as seal()
    opener, plain = RecordOpener(channel()), bytearray(room)
    opened, pending, closed = bytearray(), bytearray(), False
    points = sorted({c % (len(wire) + 1) for c in cuts} | {len(wire)})
    start = 0
    for cut in points:
        pending += wire[start:cut]
        start = cut
        while True:
            used, written, closed = opener.open_into(memoryview(bytes(pending)), memoryview(plain))
            opened += plain[:written]
            del pending[:used]
            if not used or closed:
                break
    assert closed and not pending and bytes(opened) == b"".join(chunks)


def test_open_into_refuses_what_next_record_refuses() -> None:
    records = split_records(sealed_stream(b"a", b"b", b"c"))
    for altered in (records[1:], [records[0], records[0]], records + records[:1]):
        opener = RecordOpener(channel())
        with pytest.raises(Refused) as refused:
            opener.open_into(memoryview(b"".join(altered)), memoryview(bytearray(100)))
        assert refused.value.code is ErrorCode.BAD_RECORD
        with pytest.raises(LocalProtocolError):  # a refused stream stays refused
            opener.open_into(memoryview(b""), memoryview(bytearray(100)))
