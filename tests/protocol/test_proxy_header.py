from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.protocol import NEED_DATA, ErrorCode, RemoteProtocolError
from app.protocol.encoder import encode_message_head
from app.protocol.header import Dialect
from app.protocol.proxy_header import (
    ProxyHeaderParser,
    ProxyInfo,
    encode_v1,
    encode_v2,
    looks_like_proxy_header,
)

MMP = encode_message_head({"op": "status", "job_id": "x"})


def parse(data: bytes, step: int | None = None) -> tuple[ProxyInfo, bytes]:
    parser = ProxyHeaderParser()
    chunks = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    for chunk in chunks:
        parser.feed(chunk)
        result = parser.next_result()
        if result is not NEED_DATA:
            assert isinstance(result, ProxyInfo)
            return result, parser.rest
    raise AssertionError("header never completed")


@pytest.mark.parametrize("step", [None, 1, 7])
def test_v1_tcp4_and_tcp6(step: int | None) -> None:
    info, rest = parse(encode_v1(("127.0.0.9", 40000), ("127.0.0.1", 9000)) + MMP, step)
    assert info == ProxyInfo(("127.0.0.9", 40000), ("127.0.0.1", 9000), 1)
    assert MMP.startswith(rest)
    info, _ = parse(b"PROXY TCP6 ::1 ::2 1 2\r\n")
    assert info.source == ("::1", 1)


@pytest.mark.parametrize("step", [None, 1, 5])
def test_v2_ipv4_ipv6_local(step: int | None) -> None:
    info, rest = parse(encode_v2(("127.0.0.7", 5555), ("127.0.0.1", 9000)) + MMP, step)
    assert info == ProxyInfo(("127.0.0.7", 5555), ("127.0.0.1", 9000), 2)
    assert MMP.startswith(rest)
    info, _ = parse(encode_v2(("::1", 1), ("::1", 2)))
    assert info.source == ("::1", 1)
    info, _ = parse(encode_v2(None, None))
    assert info.source is None  # LOCAL: HAProxy's own health check


def test_v2_tlvs_are_skipped() -> None:
    header = bytearray(encode_v2(("10.1.2.3", 1), ("10.1.2.4", 2)))
    tlv = b"\x05\x00\x03abc"
    header[14:16] = (12 + len(tlv)).to_bytes(2, "big")
    info, rest = parse(bytes(header) + tlv + MMP)
    assert info.source == ("10.1.2.3", 1) and MMP.startswith(rest)


@pytest.mark.parametrize(
    "raw",
    [
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        b"PROXY TCP4 ../../etc 5.6.7.8 1 2\r\n",
        b"PROXY " + b"A" * 200,
        encode_v2(None, None)[:12] + b"\x31\x11\x00\x0c" + bytes(12),  # version 3
        encode_v2(None, None)[:12] + b"\x21\x11\xff\xff",  # 64 KiB claimed
        encode_v2(None, None)[:12] + b"\x21\x11\x00\x04" + bytes(4),  # short block
        encode_v2(None, None)[:12] + b"\x21\x31\x00\x00",  # AF_UNIX
        MMP,  # no PROXY header at all
    ],
)
def test_malformed_headers_are_refused(raw: bytes) -> None:
    parser = ProxyHeaderParser()
    parser.feed(raw)
    with pytest.raises(RemoteProtocolError) as info:
        parser.next_result()
    assert info.value.code is ErrorCode.BAD_PROXY_HEADER


def test_mmp_never_looks_like_a_proxy_header() -> None:
    for dialect in Dialect:
        assert not looks_like_proxy_header(encode_message_head({"op": "x"}, dialect=dialect))
    assert looks_like_proxy_header(b"PRO")
    assert looks_like_proxy_header(encode_v2(None, None)[:3])


@settings(max_examples=1000)
@given(
    prefix=st.sampled_from([b"", b"PROXY ", b"PROXY TCP4 ", encode_v2(None, None)[:14]]),
    data=st.binary(max_size=300),
)
def test_any_bytes_parse_or_raise_remote_error(prefix: bytes, data: bytes) -> None:
    parser = ProxyHeaderParser()
    parser.feed(prefix + data)
    with contextlib.suppress(RemoteProtocolError):
        result = parser.next_result()
        if isinstance(result, ProxyInfo):
            assert len(parser.rest) <= len(prefix + data)
