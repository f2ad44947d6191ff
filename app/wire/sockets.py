"""TCP sockets that send segments of at most 1,400 payload bytes (docs/protocol.md)."""

from __future__ import annotations

import contextlib
import socket as stdlib_socket

import trio

from app.protocol import limits


def _limit_segments(sock: trio.socket.SocketType) -> None:
    # docs/protocol.md: TCP_MAXSEG counts TCP options; 1,412 gives 1,400-byte segments on
    # Linux with timestamps on. Platforms without the option keep the default.
    if hasattr(stdlib_socket, "TCP_MAXSEG"):
        with contextlib.suppress(OSError):
            sock.setsockopt(
                stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_MAXSEG, limits.TCP_MAXSEG_FOR_PACKET
            )
    sock.setsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY, 1)


async def open_listener(host: str, port: int, backlog: int = 1024) -> trio.SocketListener:
    """A listening socket whose accepted connections inherit the segment limit."""
    infos = await trio.socket.getaddrinfo(
        host, port, type=stdlib_socket.SOCK_STREAM, flags=stdlib_socket.AI_PASSIVE
    )
    family, type_, proto, _, sockaddr = infos[0]
    sock = trio.socket.socket(family, type_, proto)
    try:
        sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEADDR, 1)
        if family == stdlib_socket.AF_INET6:
            sock.setsockopt(stdlib_socket.IPPROTO_IPV6, stdlib_socket.IPV6_V6ONLY, 1)
        _limit_segments(sock)
        await sock.bind(sockaddr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


async def connect(host: str, port: int, source_host: str | None = None) -> trio.SocketStream:
    """Connect with the segment limit set before the handshake; optionally from `source_host`."""
    infos = await trio.socket.getaddrinfo(host, port, type=stdlib_socket.SOCK_STREAM)
    last_error: OSError | None = None
    for family, type_, proto, _, sockaddr in infos:
        sock = trio.socket.socket(family, type_, proto)
        try:
            _limit_segments(sock)
            if source_host is not None:
                await sock.bind((source_host, 0))
            await sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return trio.SocketStream(sock)
    raise last_error or OSError(f"cannot resolve {host}:{port}")


def peer_host(stream: trio.SocketStream) -> str:
    """The peer's IP address as text (IPv4-mapped IPv6 shown as IPv4)."""
    address = stream.socket.getpeername()
    host = str(address[0])
    return host.removeprefix("::ffff:")
