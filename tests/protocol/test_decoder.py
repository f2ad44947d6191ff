from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.protocol import (
    NEED_DATA,
    ConnectionClosed,
    Dialect,
    ErrorCode,
    LocalProtocolError,
    MessageDecoder,
    MessageEnd,
    MessageHead,
    PayloadChunk,
    RemoteProtocolError,
    encode_message_head,
)
from app.protocol.header import Header, encode_header

Collected = list[tuple[str, object]]


def collect(chunks: list[bytes], eof: bool = True) -> Collected:
    """Feed chunks; return normalised events (payload chunks merged per message)."""
    decoder = MessageDecoder()
    out: Collected = []
    payload = bytearray()

    def drain() -> None:
        while True:
            event = decoder.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, MessageHead):
                out.append(("head", (event.dialect, event.json, event.media_type)))
            elif isinstance(event, PayloadChunk):
                payload.extend(event.data)
            elif isinstance(event, MessageEnd):
                out.append(("end", bytes(payload)))
                payload.clear()
            elif isinstance(event, ConnectionClosed):
                out.append(("closed", None))
                return

    for chunk in chunks:
        decoder.feed(chunk)
        drain()
    if eof:
        decoder.feed(b"")
        drain()
    return out


def message(doc: dict[str, object], mt: str = "", payload: bytes = b"", d=Dialect.HEADER64):
    return encode_message_head(doc, mt, len(payload), d) + payload


def test_two_messages_in_both_dialects() -> None:
    stream = message({"op": "compress"}, "mp4", b"x" * 5000) + message(
        {"op": "status", "job_id": "a"}, d=Dialect.HEADER8
    )
    events = collect([stream])
    assert events == [
        ("head", (Dialect.HEADER64, {"op": "compress"}, "mp4")),
        ("end", b"x" * 5000),
        ("head", (Dialect.HEADER8, {"op": "status", "job_id": "a"}, "")),
        ("end", b""),
        ("closed", None),
    ]


def test_payload_passes_through_without_buffering() -> None:
    decoder = MessageDecoder()
    decoder.feed(encode_message_head({"op": "compress"}, "mp4", 10**9))
    assert isinstance(decoder.next_event(), MessageHead)
    assert decoder.next_event() is NEED_DATA
    block = b"y" * 65536
    decoder.feed(block)
    event = decoder.next_event()
    assert isinstance(event, PayloadChunk) and event.data is block  # no copy, no buffer
    assert decoder.next_event() is NEED_DATA
    assert decoder.payload.left == 10**9 - 65536


def test_uppercase_media_type_is_lowered() -> None:
    raw = encode_header(Header(2, 3, 1, Dialect.HEADER64)) + b"{}" + b"MP4" + b"z"
    assert collect([raw])[0] == ("head", (Dialect.HEADER64, {}, "mp4"))


@pytest.mark.parametrize(
    ("body", "mt", "code"),
    [
        (b"not json", b"", ErrorCode.BAD_JSON),
        (b"[1, 2]", b"", ErrorCode.BAD_JSON),
        (b'{"a": NaN}', b"", ErrorCode.BAD_JSON),
        (b'{"a": "\xff"}', b"", ErrorCode.BAD_JSON),
        (b"[" * 5000 + b"]" * 5000, b"", ErrorCode.BAD_JSON),
        (b'{"a":' * 20 + b"1" + b"}" * 20, b"", ErrorCode.BAD_JSON),
        (b"{}", b"../x", ErrorCode.BAD_MEDIA_TYPE),
        (b"{}", b"mp 4", ErrorCode.BAD_MEDIA_TYPE),
        (b"{}", "\u212a".encode(), ErrorCode.BAD_MEDIA_TYPE),  # KELVIN SIGN lowers to "k"
        (b"{}", b"m\x00", ErrorCode.BAD_MEDIA_TYPE),
    ],
)
def test_bad_bodies_are_refused(body: bytes, mt: bytes, code: ErrorCode) -> None:
    raw = encode_header(Header(len(body), len(mt), 1 if mt else 0, Dialect.HEADER64))
    with pytest.raises(RemoteProtocolError) as info:
        collect([raw + body + mt + b"p"])
    assert info.value.code is code


def test_truncated_message_is_an_error_but_clean_close_is_not() -> None:
    raw = message({"op": "compress"}, "mp4", b"abc")
    assert collect([raw])[-1] == ("closed", None)
    for cut in (1, 10, 64, len(raw) - 1):
        with pytest.raises(RemoteProtocolError) as info:
            collect([raw[:cut]])
        assert info.value.code is ErrorCode.TRUNCATED


documents = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.integers(), st.text(max_size=20), st.booleans(), st.none()),
    max_size=5,
)
messages = st.lists(
    st.tuples(
        documents,
        st.sampled_from(["", "mp4", "webm", "json"]),
        st.binary(max_size=3000),
        st.sampled_from(list(Dialect)),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200)
@given(msgs=messages, cuts=st.lists(st.integers(0, 20_000), max_size=12))
def test_any_split_decodes_to_the_same_events(msgs, cuts: list[int]) -> None:
    stream = b"".join(
        message(doc, mt or ("bin" if payload else ""), payload, d) for doc, mt, payload, d in msgs
    )
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    whole = collect([stream])
    assert collect([c for c in chunks if c]) == whole
    heads = [e for e in whole if e[0] == "head"]
    assert [h[1][1] for h in heads] == [json.loads(json.dumps(doc)) for doc, *_ in msgs]


@settings(max_examples=500)
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=5))
def test_any_bytes_decode_or_raise_remote_error(data: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    with contextlib.suppress(RemoteProtocolError):
        collect([c for c in chunks if c])


@settings(max_examples=300)
@given(
    prefix=st.sampled_from([b"\0\0", b"\0\x05", b"\x00\x00" + b"\0" * 14 + b"\x02"]),
    data=st.binary(max_size=200),
)
def test_header_shaped_garbage_never_crashes(prefix: bytes, data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        collect([prefix + data])


def test_payload_bytes_read_elsewhere_are_skipped() -> None:
    """A payload spliced into a file bypasses the decoder: it is told how much went by."""
    dec = MessageDecoder()
    dec.feed(encode_message_head({"op": "x"}, "mp4", 10) + b"abc")
    assert isinstance(dec.next_event(), MessageHead)
    assert dec.payload.buffered
    with pytest.raises(LocalProtocolError):
        dec.payload.skip(7)  # bytes are still buffered: they must be taken first
    assert dec.next_event() == PayloadChunk(b"abc")
    assert not dec.payload.buffered and dec.payload.left == 7
    with pytest.raises(LocalProtocolError):
        dec.payload.skip(8)  # past the payload's end
    dec.payload.skip(7)
    assert isinstance(dec.next_event(), MessageEnd)
    with pytest.raises(LocalProtocolError):
        dec.payload.skip(1)  # between messages
