"""The one receive buffer under the MMP decoder, the raw decoder and the record opener.

The buffer is checked against a bytearray model; then the three decoders built on it
share three properties: any split of a valid stream decodes to the same events, any
bytes decode or raise RemoteProtocolError (never another exception), and what they
hold between events stays under a fixed bound, whatever is fed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.protocol import (
    NEED_DATA,
    ConnectionClosed,
    LocalProtocolError,
    MessageDecoder,
    MessageEnd,
    MessageHead,
    PayloadChunk,
    RemoteProtocolError,
    encode_message_head,
    limits,
)
from app.protocol.raw import FTYP_CHECK_SIZE, SIZE_PREFIX_SIZE, RawUploadDecoder, encode_size_prefix
from app.protocol.receive_buffer import ReceiveBuffer
from app.protocol.secure.records import (
    MAX_RECORD_SIZE,
    ChannelKey,
    Cipher,
    Direction,
    RecordOpener,
    RecordSealer,
)

CHANNEL = ChannelKey(Cipher.AES_256_GCM, bytes(32), bytes(range(32)), Direction.CLIENT_TO_SERVER)
FTYP = b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00mp41"

operations = st.lists(
    st.one_of(
        st.tuples(st.just("feed"), st.binary(min_size=1, max_size=50)),
        st.tuples(st.sampled_from(["take", "take_view", "take_some", "peek"]), st.integers(0, 80)),
    ),
    max_size=40,
)


@settings(max_examples=400)
@given(operations)
def test_the_buffer_behaves_like_one_bytearray(ops: list[tuple[str, Any]]) -> None:
    buffer, model = ReceiveBuffer(), bytearray()
    for name, arg in ops:
        if name == "feed":
            buffer.feed(arg)
            model += arg
        elif name == "peek":
            assert buffer.peek(arg) == (bytes(model[:arg]) if arg <= len(model) else None)
        elif name == "take_some":
            got = buffer.take_some(arg)
            assert len(got) <= arg and (got or not model or not arg)
            assert got == model[: len(got)]
            del model[: len(got)]
        elif arg > len(model):
            with pytest.raises(LocalProtocolError):
                getattr(buffer, name)(arg)
        else:
            assert bytes(getattr(buffer, name)(arg)) == model[:arg]
            del model[:arg]
        assert len(buffer) == len(model)
    assert buffer.take_all() == model


def test_whole_chunks_pass_without_a_copy_and_eof_is_final() -> None:
    buffer = ReceiveBuffer()
    chunk = b"x" * 1000
    buffer.feed(chunk)
    assert buffer.take_some(5000) is chunk
    buffer.feed(b"")
    assert buffer.eof
    with pytest.raises(LocalProtocolError):
        buffer.feed(b"late")


# --- the three decoders on the buffer ---------------------------------------------

Decoded = list[tuple[str, object]]


def decode_mmp(chunks: list[bytes]) -> tuple[Decoded, int]:
    return _drain(MessageDecoder(), chunks, lambda d: d.next_event())


def decode_raw(chunks: list[bytes]) -> tuple[Decoded, int]:
    return _drain(RawUploadDecoder(), chunks, lambda d: d.next_event())


def decode_records(chunks: list[bytes]) -> tuple[Decoded, int]:
    return _drain(RecordOpener(CHANNEL), chunks, lambda d: d.next_record())


def _drain(decoder: Any, chunks: list[bytes], step: Callable[[Any], object]) -> tuple[Decoded, int]:
    """Normalised events (payload bytes merged), and the most the decoder ever held."""
    out: Decoded = []
    data = bytearray()
    held = 0

    def flush() -> None:
        if data:
            out.append(("bytes", bytes(data)))
            data.clear()

    for chunk in [*chunks, b""]:
        decoder.feed(chunk)
        while True:
            event = step(decoder)
            if event is NEED_DATA:
                break
            if isinstance(event, PayloadChunk | bytes):
                data.extend(event.data if isinstance(event, PayloadChunk) else event)
                continue
            flush()
            if isinstance(event, MessageHead):
                out.append(("head", (event.json, event.media_type, event.payload_size)))
            elif isinstance(event, MessageEnd | ConnectionClosed):
                out.append((type(event).__name__, None))
                if isinstance(event, ConnectionClosed):
                    return out, held
            else:
                out.append(("head", event))
        held = max(held, decoder.buffered)
    flush()
    return out, held


def valid_mmp(payloads: list[bytes]) -> bytes:
    return b"".join(
        encode_message_head({"n": i}, "mp4" if p else "", len(p)) + p
        for i, p in enumerate(payloads)
    )


def valid_raw(payloads: list[bytes]) -> bytes:
    body = FTYP + b"".join(payloads)
    return encode_size_prefix(len(body)) + body


def valid_records(payloads: list[bytes]) -> bytes:
    sealer = RecordSealer(CHANNEL)
    return b"".join(sealer.seal(p) for p in payloads if p) + sealer.seal_close()


DECODERS = {
    # name: (decode, make a valid stream, the most it may hold between events)
    "mmp": (decode_mmp, valid_mmp, limits.HEADER64_SIZE + limits.MAX_JSON_SIZE + 255),
    "raw": (decode_raw, valid_raw, SIZE_PREFIX_SIZE + FTYP_CHECK_SIZE),
    "records": (decode_records, valid_records, MAX_RECORD_SIZE),
}


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    return [p for p in pieces if p]


@pytest.mark.parametrize("name", list(DECODERS))
@settings(max_examples=150, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=5000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 30_000), max_size=15),
)
def test_any_split_of_a_valid_stream_decodes_the_same(
    name: str, payloads: list[bytes], cuts: list[int]
) -> None:
    decode, valid, _ = DECODERS[name]
    stream = valid(payloads)
    whole, _ = decode([stream])
    assert decode(split(stream, cuts))[0] == whole
    assert decode([stream[i : i + 1] for i in range(len(stream))])[0] == whole


@pytest.mark.parametrize("name", list(DECODERS))
@settings(max_examples=300, deadline=None)
@given(
    prefix_of=st.lists(st.binary(max_size=2000), max_size=2),
    garbage=st.binary(max_size=600),
    cuts=st.lists(st.integers(0, 5000), max_size=8),
)
def test_any_bytes_decode_or_raise_a_remote_error_within_bounded_memory(
    name: str, prefix_of: list[bytes], garbage: bytes, cuts: list[int]
) -> None:
    """A valid start (so deep states are reached) cut anywhere, then garbage."""
    decode, valid, bound = DECODERS[name]
    stream = valid(prefix_of)
    stream = stream[: len(stream) // 2] + garbage
    try:
        _, held = decode(split(stream, cuts))
    except RemoteProtocolError:
        return
    assert held <= bound


@pytest.mark.parametrize("name", list(DECODERS))
def test_a_huge_payload_passes_through_without_being_held(name: str) -> None:
    decode, valid, bound = DECODERS[name]
    block = bytes(range(256)) * 256  # 64 KiB
    stream = valid([block] * 64)  # 4 MiB through each decoder, fed in 64 KiB pieces
    events, held = decode([stream[i : i + len(block)] for i in range(0, len(stream), len(block))])
    assert sum(len(v) for k, v in events if k == "bytes") >= 64 * len(block)  # type: ignore[arg-type]
    assert held <= bound
