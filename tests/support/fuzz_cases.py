"""Hostile byte streams for the MMP and raw decoders, shared by the suite and bench/fuzz.py.

Each case is a list of chunks fed to a fresh decoder, then end of stream. The property:
every case decodes or raises RemoteProtocolError — never another exception — and the
decoder never holds more bytes than it was fed.
"""

from __future__ import annotations

from hypothesis import strategies as st

from app.protocol import (
    NEED_DATA,
    ConnectionClosed,
    Dialect,
    MessageDecoder,
    RemoteProtocolError,
    encode_message_head,
)
from app.protocol.raw import RawUploadDecoder, SizeEncoding, encode_size_prefix

FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp42"


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None, insert: bytes) -> bytes:
    out = bytearray(data)
    for position, value in flips:
        if out:
            out[position % len(out)] = value
    if insert and out:
        at = flips[0][0] % len(out) if flips else 0
        out[at:at] = insert
    if cut is not None and out:
        out = out[: cut % (len(out) + 1)]
    return bytes(out)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    return [c for c in chunks if c]


_mutations = st.tuples(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    st.one_of(st.none(), st.integers(0, 10_000)),
    st.binary(max_size=8),
)

_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@st.composite
def _valid_mmp(draw: st.DrawFn) -> bytes:
    messages = []
    for _ in range(draw(st.integers(1, 3))):
        doc = draw(st.dictionaries(st.text(max_size=8), _json_values, max_size=4))
        payload = draw(st.binary(max_size=300))
        media_type = draw(st.sampled_from(["mp4", "json", "WEBM", "x1"])) if payload else ""
        dialect = draw(st.sampled_from(list(Dialect)))
        messages.append(encode_message_head(doc, media_type, len(payload), dialect) + payload)
    return b"".join(messages)


@st.composite
def _header_shaped(draw: st.DrawFn) -> bytes:
    """Headers with hostile field values: huge, zero, or just past each limit."""
    json_size = draw(st.sampled_from([0, 1, 2, 3, 65_535, 65_536, 65_537, 2**64]))
    mt_size = draw(st.sampled_from([0, 1, 16, 17, 255]))
    payload_size = draw(st.sampled_from([0, 1, 2**40 - 1, 2**40, 2**47, 2**47 + 1]))
    if draw(st.booleans()):
        head = json_size.to_bytes(16, "big") + bytes([mt_size]) + payload_size.to_bytes(47, "big")
    else:
        head = (
            (json_size % 2**16).to_bytes(2, "big")
            + bytes([mt_size])
            + (payload_size % 2**40).to_bytes(5, "big")
        )
    return head + draw(st.binary(max_size=64))


mmp_streams = st.builds(
    _split,
    st.one_of(
        _valid_mmp(),
        st.builds(lambda d, m: _mutate(d, *m), _valid_mmp(), _mutations),
        _header_shaped(),
        st.binary(max_size=200),
    ),
    st.lists(st.integers(0, 4000), max_size=6),
)


@st.composite
def _raw_prefix(draw: st.DrawFn) -> bytes:
    size = draw(st.one_of(st.integers(0, 64), st.integers(0, 2**33), st.just(2**32)))
    form = draw(st.sampled_from(["be32", "be4", "ascii", "zfill", "ljust", "nul", "lf"]))
    text = str(size).encode()
    if form == "be32":
        return size.to_bytes(32, "big") if size < 2**256 else bytes(32)
    if form == "be4":
        return (size % 2**32).to_bytes(4, "big") + bytes(28)
    padded = {
        "ascii": text.rjust(32),
        "zfill": text.zfill(32),
        "ljust": text.ljust(32),
        "nul": text.ljust(32, b"\0"),
        "lf": (text + b"\n").ljust(32, b"\0"),
    }[form]
    return padded[:32]


@st.composite
def _valid_raw(draw: st.DrawFn) -> bytes:
    body = FTYP + draw(st.binary(max_size=400))
    encoding = draw(st.sampled_from([SizeEncoding.BINARY32, SizeEncoding.ASCII]))
    return encode_size_prefix(len(body), encoding) + body + draw(st.binary(max_size=20))


raw_streams = st.builds(
    _split,
    st.one_of(
        _valid_raw(),
        st.builds(lambda d, m: _mutate(d, *m), _valid_raw(), _mutations),
        st.builds(lambda p, rest: p + rest, _raw_prefix(), st.binary(max_size=64)),
        st.binary(max_size=120),
    ),
    st.lists(st.integers(0, 600), max_size=6),
)


def run_mmp_case(chunks: list[bytes]) -> None:
    """Feed the chunks and drain events; only RemoteProtocolError may escape."""
    decoder = MessageDecoder()
    try:
        for chunk in [*chunks, b""]:
            decoder.feed(chunk)
            while (event := decoder.next_event()) is not NEED_DATA:
                if isinstance(event, ConnectionClosed):
                    return
    except RemoteProtocolError:
        return


def run_raw_case(chunks: list[bytes]) -> None:
    decoder = RawUploadDecoder()
    fed = 0
    try:
        for chunk in [*chunks, b""]:
            decoder.feed(chunk)
            fed += len(chunk)
            while (event := decoder.next_event()) is not NEED_DATA:
                if isinstance(event, ConnectionClosed):
                    return
            assert decoder.bytes_received == fed
    except RemoteProtocolError:
        return
