"""PROXY protocol v1 and v2 (as HAProxy's `send-proxy`/`send-proxy-v2` send it): sans-IO.

A balancer in front of vcs-serve prepends one PROXY header to each connection, naming
the real client. `ProxyHeaderParser` reads exactly that header and hands back the bytes
after it, which belong to MMP. The server uses it only for connections from trusted
balancer addresses (docs/scale.md).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from app.protocol.errors import ErrorCode, RemoteProtocolError
from app.protocol.events import NEED_DATA, NeedData

V1_PREFIX: Final = b"PROXY "
V1_MAX_SIZE: Final = 107  # the spec's bound, CRLF included
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED_SIZE: Final = 16
# Addresses plus TLVs; HAProxy sends far less. A bigger claim is refused, not buffered.
V2_MAX_BODY: Final = 1024

_V2_FAMILIES: Final = {0x11: (4, 12), 0x21: (16, 36)}  # TCP over IPv4 / IPv6


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    """The client the balancer saw. None: a LOCAL/UNKNOWN header (health check)."""

    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    version: int


def _bad(why: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        ErrorCode.BAD_PROXY_HEADER,
        f"The PROXY protocol header is malformed: {why}.",
        "Send a PROXY v1 or v2 header as HAProxy does (send-proxy / send-proxy-v2), "
        "and only from an address given to vcs-serve with --trusted-proxy.",
    )


def looks_like_proxy_header(data: bytes) -> bool:
    """Does `data` (a connection's first bytes) start a PROXY header?

    Unambiguous against MMP: "PROXY " read as an 8-byte MMP header declares a media type
    of 79 bytes (> 16), and the v2 signature would put "U" where JSON needs "{".
    """
    n = min(len(data), len(V2_SIGNATURE))
    if n and data[:n] == V2_SIGNATURE[:n]:
        return True
    n = min(len(data), len(V1_PREFIX))
    return bool(n) and data[:n] == V1_PREFIX[:n]


def _port(text: bytes) -> int:
    if not text.isdigit() or len(text) > 5 or (len(text) > 1 and text.startswith(b"0")):
        raise _bad(f"port {text[:8]!r} is not a number")
    port = int(text)
    if port > 65535:
        raise _bad(f"port {port} is out of range")
    return port


def _parse_v1(line: bytes) -> ProxyInfo:
    parts = line.split(b" ")
    if len(parts) >= 2 and parts[1] == b"UNKNOWN":
        return ProxyInfo(None, None, 1)
    if len(parts) != 6:
        raise _bad("a v1 line needs PROXY, family, two addresses and two ports")
    _, family, src, dst, sport, dport = parts
    version = {b"TCP4": 4, b"TCP6": 6}.get(family)
    if version is None:
        raise _bad(f"unknown family {family[:8]!r}")
    try:
        src_ip = ipaddress.ip_address(src.decode("ascii"))
        dst_ip = ipaddress.ip_address(dst.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise _bad("an address is not an IP address") from None
    if src_ip.version != version or dst_ip.version != version:
        raise _bad("the addresses do not match the family")
    return ProxyInfo((str(src_ip), _port(sport)), (str(dst_ip), _port(dport)), 1)


def _parse_v2(fixed: bytes, body: bytes) -> ProxyInfo:
    command = fixed[12] & 0x0F
    family = fixed[13]
    if command == 0x0:  # LOCAL: the balancer's own connection (health checks)
        return ProxyInfo(None, None, 2)
    if command != 0x1:
        raise _bad(f"unknown v2 command {command}")
    if family == 0x00:  # UNSPEC
        return ProxyInfo(None, None, 2)
    if family not in _V2_FAMILIES:
        raise _bad(f"unsupported v2 address family 0x{family:02x} (only TCP over IPv4/IPv6)")
    size, needed = _V2_FAMILIES[family]
    if len(body) < needed:
        raise _bad("the v2 address block is too short")
    src = ipaddress.ip_address(body[:size])
    dst = ipaddress.ip_address(body[size : 2 * size])
    sport = int.from_bytes(body[2 * size : 2 * size + 2], "big")
    dport = int.from_bytes(body[2 * size + 2 : 2 * size + 4], "big")
    return ProxyInfo((str(src), sport), (str(dst), dport), 2)


class ProxyHeaderParser:
    """Feed a connection's first bytes; `next_result` gives the header once complete."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.rest = b""  # bytes after the header: the start of the MMP stream

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_result(self) -> ProxyInfo | NeedData:
        buf = bytes(self._buffer)
        if not looks_like_proxy_header(buf):
            raise _bad("the connection does not start with a PROXY header")
        if buf[:1] == V2_SIGNATURE[:1]:
            return self._next_v2(buf)
        return self._next_v1(buf)

    def _next_v1(self, buf: bytes) -> ProxyInfo | NeedData:
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) >= V1_MAX_SIZE:
                raise _bad(f"no CRLF within {V1_MAX_SIZE} bytes")
            return NEED_DATA
        if end + 2 > V1_MAX_SIZE:
            raise _bad(f"the v1 line is longer than {V1_MAX_SIZE} bytes")
        info = _parse_v1(buf[:end])
        self.rest = buf[end + 2 :]
        return info

    def _next_v2(self, buf: bytes) -> ProxyInfo | NeedData:
        if len(buf) < V2_FIXED_SIZE:
            return NEED_DATA
        if buf[12] >> 4 != 2:
            raise _bad(f"version {buf[12] >> 4} is not 2")
        length = int.from_bytes(buf[14:16], "big")
        if length > V2_MAX_BODY:
            raise _bad(f"the v2 header claims {length} bytes (limit {V2_MAX_BODY})")
        if len(buf) < V2_FIXED_SIZE + length:
            return NEED_DATA
        info = _parse_v2(buf[:V2_FIXED_SIZE], buf[V2_FIXED_SIZE : V2_FIXED_SIZE + length])
        self.rest = buf[V2_FIXED_SIZE + length :]
        return info


def encode_v1(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A v1 header (for tests and tools that speak for a balancer)."""
    family = "TCP6" if ":" in source[0] else "TCP4"
    return (f"PROXY {family} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n").encode(
        "ascii"
    )


def encode_v2(source: tuple[str, int] | None, destination: tuple[str, int] | None) -> bytes:
    """A v2 header; None addresses make a LOCAL header, as a health check sends."""
    if source is None or destination is None:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + (0).to_bytes(2, "big")
    src = ipaddress.ip_address(source[0])
    dst = ipaddress.ip_address(destination[0])
    family = 0x11 if src.version == 4 else 0x21
    body = (
        src.packed + dst.packed + source[1].to_bytes(2, "big") + destination[1].to_bytes(2, "big")
    )
    return V2_SIGNATURE + bytes([0x21, family]) + len(body).to_bytes(2, "big") + body
