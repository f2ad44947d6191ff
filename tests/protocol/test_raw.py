"""The raw upload protocol's sans-IO parts (SPEC §2.2): prefixes, ftyp check, decoder, status."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.protocol import (
    NEED_DATA,
    ConnectionClosed,
    ErrorCode,
    LocalProtocolError,
    MessageEnd,
    PayloadChunk,
    RemoteProtocolError,
)
from app.protocol.raw import (
    MAX_RAW_FILE_SIZE,
    SIZE_PREFIX_SIZE,
    STATUS_FOR_ERROR,
    STATUS_SIZE,
    STORED,
    RawStatus,
    RawUploadDecoder,
    RawUploadHead,
    SizeEncoding,
    check_ftyp,
    decode_size_prefix,
    decode_status,
    encode_size_prefix,
    encode_status,
    error_code_for_status,
)
from tests.fuzz_cases import FTYP


def decode_all(chunks: list[bytes]) -> tuple[RawUploadHead | None, bytes, list[str]]:
    """Feed chunks then EOF; return the head, the payload and the event kinds."""
    decoder = RawUploadDecoder()
    head, payload, kinds = None, bytearray(), []
    for chunk in [*chunks, b""]:
        decoder.feed(chunk)
        while (event := decoder.next_event()) is not NEED_DATA:
            if isinstance(event, RawUploadHead):
                head = event
                kinds.append("head")
            elif isinstance(event, PayloadChunk):
                payload += event.data
            elif isinstance(event, MessageEnd):
                kinds.append("end")
            elif isinstance(event, ConnectionClosed):
                kinds.append("closed")
                break
    return head, bytes(payload), kinds


@pytest.mark.parametrize(
    ("prefix", "size", "encoding"),
    [
        ((123_456).to_bytes(32, "big"), 123_456, SizeEncoding.BINARY32),
        ((2**32).to_bytes(32, "big"), 2**32, SizeEncoding.BINARY32),
        ((123_456).to_bytes(4, "big") + bytes(28), 123_456, SizeEncoding.BINARY4),
        ((2**32 - 1).to_bytes(4, "big") + bytes(28), 2**32 - 1, SizeEncoding.BINARY4),
        (b"123456".rjust(32), 123_456, SizeEncoding.ASCII),
        (b"123456".zfill(32), 123_456, SizeEncoding.ASCII),
        (b"123456".ljust(32), 123_456, SizeEncoding.ASCII),
        (b"123456".ljust(32, b"\0"), 123_456, SizeEncoding.ASCII),
        (b"123456\r\n".ljust(32, b"\0"), 123_456, SizeEncoding.ASCII),
        (b"  123456\n".ljust(32), 123_456, SizeEncoding.ASCII),
        (b"4294967296".rjust(32), 2**32, SizeEncoding.ASCII),
        (b"16".ljust(32), 16, SizeEncoding.ASCII),
    ],
)
def test_every_accepted_prefix_form(prefix: bytes, size: int, encoding: SizeEncoding) -> None:
    assert len(prefix) == 32
    assert decode_size_prefix(prefix) == RawUploadHead(size, encoding)


def test_short_nul_padded_ascii_is_read_as_the_4_byte_form() -> None:
    # Documented precedence: "1234" + 28 NULs is byte for byte a 4-byte integer.
    prefix = b"1234".ljust(32, b"\0")
    assert decode_size_prefix(prefix) == RawUploadHead(0x31323334, SizeEncoding.BINARY4)


@pytest.mark.parametrize(
    ("prefix", "code"),
    [
        (b"hello, this is not a size at all", ErrorCode.BAD_HEADER),
        (b"12 34".ljust(32), ErrorCode.BAD_HEADER),
        (b"-1234".rjust(32), ErrorCode.BAD_HEADER),
        (b"0x1234".rjust(32), ErrorCode.BAD_HEADER),
        (b"1234\x00\x00\x00\x00 junk".ljust(32, b"\0"), ErrorCode.BAD_HEADER),
        ((2**32 + 1).to_bytes(32, "big"), ErrorCode.PAYLOAD_TOO_LARGE),
        (b"\x00\x01" + bytes(29) + b"\x01", ErrorCode.PAYLOAD_TOO_LARGE),
        (b"4294967297".rjust(32), ErrorCode.PAYLOAD_TOO_LARGE),
        (b"9" * 32, ErrorCode.PAYLOAD_TOO_LARGE),
        (bytes(32), ErrorCode.NOT_MP4),  # size 0
        ((15).to_bytes(32, "big"), ErrorCode.NOT_MP4),
    ],
)
def test_bad_prefixes_are_refused(prefix: bytes, code: ErrorCode) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_size_prefix(prefix)
    assert info.value.code is code


@settings(max_examples=300)
@given(size=st.integers(16, MAX_RAW_FILE_SIZE), pad=st.sampled_from(["rjust", "zfill", "ljust"]))
def test_the_three_forms_never_disagree(size: int, pad: str) -> None:
    text = str(size).encode()
    forms = {
        encode_size_prefix(size, SizeEncoding.BINARY32): SizeEncoding.BINARY32,
        getattr(text, pad)(32): SizeEncoding.ASCII,
    }
    if size < 2**32:
        forms[encode_size_prefix(size, SizeEncoding.BINARY4)] = SizeEncoding.BINARY4
    if len(text) >= 5:  # NUL padding is unambiguous from 5 digits on
        forms[text.ljust(32, b"\0")] = SizeEncoding.ASCII
    for prefix, encoding in forms.items():
        assert decode_size_prefix(prefix) == RawUploadHead(size, encoding)


def test_ftyp_check_accepts_a_real_header_and_refuses_the_rest() -> None:
    check_ftyp(FTYP[:16], 1000)
    bad = [
        (b"\x00\x00\x00\x18moovisom\x00\x00\x02\x00", 1000),  # not ftyp
        (b"\x00\x00\x00\x08ftypisom\x00\x00\x02\x00", 1000),  # box too small
        (b"\x00\x00\x00\x19ftypisom\x00\x00\x02\x00", 1000),  # not a whole brand list
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", 20),  # box past the file's end
        (b"\x00\x01\x00\x00ftypisom\x00\x00\x02\x00", 10**6),  # absurd ftyp size
        (b"\x00\x00\x00\x18ftyp\x00\x01\x02\x03\x00\x00\x02\x00", 1000),  # brand not text
        (b"RIFF\x00\x00\x00\x00AVI LIST", 1000),
        (FTYP[:10], 10),
    ]
    for first, size in bad:
        with pytest.raises(RemoteProtocolError) as info:
            check_ftyp(first, size)
        assert info.value.code is ErrorCode.NOT_MP4, first


def test_decoder_passes_the_file_through_and_drops_trailing_bytes() -> None:
    body = FTYP + b"z" * 5000
    decoder = RawUploadDecoder()
    decoder.feed(encode_size_prefix(len(body)))
    assert decoder.next_event() == RawUploadHead(len(body), SizeEncoding.BINARY32)
    assert decoder.next_event() is NEED_DATA
    decoder.feed(body[:16])
    assert decoder.next_event() == PayloadChunk(body[:16])
    block = body[16:]
    decoder.feed(block)
    event = decoder.next_event()
    assert isinstance(event, PayloadChunk) and event.data is block  # no copy once checked
    assert decoder.next_event() == MessageEnd()
    decoder.feed(b"extra")
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing_bytes == 5 and not decoder.started


def test_not_mp4_is_refused_before_any_payload_byte_is_handed_out() -> None:
    decoder = RawUploadDecoder()
    decoder.feed(encode_size_prefix(1000) + b"\x00\x00\x00\x18moov" + b"x" * 100)
    assert isinstance(decoder.next_event(), RawUploadHead)
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.code is ErrorCode.NOT_MP4


def test_end_of_stream_before_a_byte_is_a_clean_close_but_later_is_truncation() -> None:
    assert decode_all([]) == (None, b"", ["closed"])
    body = FTYP + b"x" * 100
    whole = encode_size_prefix(len(body)) + body
    for cut in (1, 31, 32, 40, len(whole) - 1):
        with pytest.raises(RemoteProtocolError) as info:
            decode_all([whole[:cut]])
        assert info.value.code is ErrorCode.TRUNCATED


@settings(max_examples=200)
@given(
    body=st.binary(max_size=3000),
    encoding=st.sampled_from([SizeEncoding.BINARY32, SizeEncoding.ASCII, SizeEncoding.BINARY4]),
    cuts=st.lists(st.integers(0, 4000), max_size=10),
)
def test_any_split_decodes_to_the_same_file(body: bytes, encoding, cuts: list[int]) -> None:
    body = FTYP + body
    stream = encode_size_prefix(len(body), encoding) + body
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    head, payload, kinds = decode_all([c for c in chunks if c])
    assert head == RawUploadHead(len(body), encoding)
    assert payload == body
    assert kinds == ["head", "end"]


def test_status_messages_are_16_ascii_bytes_and_round_trip() -> None:
    for status in [STORED, *STATUS_FOR_ERROR.values()]:
        raw = encode_status(status)
        assert len(raw) == STATUS_SIZE and raw.endswith(b"\n") and raw.isascii()
        assert decode_status(raw) == status
    assert encode_status(STORED) == b"200 stored     \n"
    assert error_code_for_status(RawStatus(507, "quota full")) is ErrorCode.QUOTA_EXCEEDED
    assert error_code_for_status(STORED) is None


@settings(max_examples=300)
@given(raw=st.binary(min_size=0, max_size=20))
def test_any_status_bytes_parse_or_raise_remote_errors(raw: bytes) -> None:
    try:
        status = decode_status(raw)
    except RemoteProtocolError:
        return
    assert encode_status(status).rstrip(b" \n") == raw.rstrip(b" \n")


def test_file_bytes_read_elsewhere_are_skipped_after_the_ftyp_check() -> None:
    """The server splices the file past its first chunk: the decoder is told how much."""
    dec = RawUploadDecoder()
    dec.feed(encode_size_prefix(100) + FTYP)
    assert isinstance(dec.next_event(), RawUploadHead)
    assert dec.payload.left == 0  # the ftyp box is not checked yet: nothing may bypass
    with pytest.raises(LocalProtocolError):
        dec.payload.skip(1)
    got = b""
    while not got or dec.payload.buffered:
        event = dec.next_event()
        assert isinstance(event, PayloadChunk)
        got += event.data
    assert got == FTYP and dec.payload.left == 100 - len(FTYP)
    with pytest.raises(LocalProtocolError):
        dec.payload.skip(dec.payload.left + 1)
    dec.payload.skip(dec.payload.left)
    assert isinstance(dec.next_event(), MessageEnd)
    assert dec.bytes_received == SIZE_PREFIX_SIZE + 100
