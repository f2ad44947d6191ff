from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.protocol import Dialect, ErrorCode, Header, LocalProtocolError, RemoteProtocolError
from app.protocol.header import decode_header, detect_dialect, encode_header


def test_64_byte_header_layout_is_big_endian() -> None:
    raw = encode_header(Header(300, 3, 2**40 + 5, Dialect.HEADER64))
    assert len(raw) == 64
    assert raw[:16] == (300).to_bytes(16, "big")
    assert raw[16] == 3
    assert raw[17:] == (2**40 + 5).to_bytes(47, "big")


def test_8_byte_header_layout() -> None:
    raw = encode_header(Header(300, 3, 12345, Dialect.HEADER8))
    assert raw == (300).to_bytes(2, "big") + b"\x03" + (12345).to_bytes(5, "big")


def test_dialects_are_told_apart_by_the_first_two_bytes() -> None:
    assert detect_dialect(encode_header(Header(65536, 0, 0, Dialect.HEADER64))) is Dialect.HEADER64
    assert detect_dialect(encode_header(Header(2, 0, 0, Dialect.HEADER8))) is Dialect.HEADER8
    assert detect_dialect(encode_header(Header(256, 0, 0, Dialect.HEADER8))) is Dialect.HEADER8


@pytest.mark.parametrize(
    ("json_size", "mt_size", "payload", "code"),
    [
        (1, 0, 0, ErrorCode.JSON_SIZE),
        (0, 0, 0, ErrorCode.JSON_SIZE),
        (65_537, 0, 0, ErrorCode.JSON_SIZE),
        (2**100, 0, 0, ErrorCode.JSON_SIZE),
        (10, 17, 5, ErrorCode.BAD_MEDIA_TYPE),
        (10, 0, 5, ErrorCode.BAD_MEDIA_TYPE),
        (10, 3, 2**47 + 1, ErrorCode.PAYLOAD_TOO_LARGE),
    ],
)
def test_header_limits_are_refused_with_codes(
    json_size: int, mt_size: int, payload: int, code: ErrorCode
) -> None:
    raw = json_size.to_bytes(16, "big") + bytes([mt_size]) + payload.to_bytes(47, "big")
    with pytest.raises(RemoteProtocolError) as info:
        decode_header(raw, Dialect.HEADER64)
    assert info.value.code is code


def test_encoder_refuses_what_the_dialect_cannot_carry() -> None:
    with pytest.raises(LocalProtocolError):
        encode_header(Header(65_536, 0, 0, Dialect.HEADER8))
    with pytest.raises(LocalProtocolError):
        encode_header(Header(10, 3, 2**40, Dialect.HEADER8))


@given(
    dialect=st.sampled_from(list(Dialect)),
    json_size=st.integers(2, 65_535),
    mt_size=st.integers(1, 16),
    payload=st.integers(0, 2**40 - 1),
)
def test_header_round_trip(dialect: Dialect, json_size: int, mt_size: int, payload: int) -> None:
    header = Header(json_size, mt_size, payload, dialect)
    raw = encode_header(header)
    assert len(raw) == dialect.size
    assert detect_dialect(raw[:2]) is dialect
    assert decode_header(raw, dialect) == header


@given(raw=st.binary(min_size=64, max_size=64))
def test_any_64_bytes_decode_or_raise_remote_error(raw: bytes) -> None:
    try:
        header = decode_header(raw, Dialect.HEADER64)
    except RemoteProtocolError:
        return
    assert 2 <= header.json_size <= 65_536
    assert header.payload_size <= 2**47
