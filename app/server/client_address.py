"""Who the client is: the peer address, or the one a trusted balancer's PROXY header names.

SPEC §7: behind HAProxy every connection comes from the balancer, so per-IP rules would
count the balancer. With --proxy-protocol, connections from --trusted-proxy addresses
must start with a PROXY v1/v2 header and the client it names is used; a PROXY header
from anyone else is refused (`bad_proxy_header`), never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

import trio

from app.protocol import ErrorCode, RemoteProtocolError
from app.protocol.proxy_header import ProxyHeaderParser, ProxyInfo, looks_like_proxy_header
from app.wire.event_reader import RECEIVE_SIZE

# A balancer sends its header at once; a peer that dawdles is not a balancer.
PROXY_HEADER_TIMEOUT_S: Final = 5.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(texts: Sequence[str]) -> tuple[Network, ...]:
    """'127.0.0.1', '10.0.0.0/8', '::1' → networks (ValueError on a bad one)."""
    return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in texts)


def is_trusted(host: str, trusted: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def _untrusted_header(peer: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        ErrorCode.BAD_PROXY_HEADER,
        f"A PROXY protocol header came from {peer}, which is not a trusted balancer.",
        "Connect directly with MMP, or add the balancer's address to vcs-serve's "
        "--trusted-proxy list.",
    )


async def read_client_address(
    stream: trio.abc.ReceiveStream,
    peer: str,
    proxy_protocol: bool,
    trusted: Sequence[Network],
) -> tuple[str, bytes] | None:
    """Read the connection's first bytes: returns (client address, bytes that start
    the MMP stream), or None when the peer closed without sending anything (a TCP
    health check)."""
    first = bytes(await stream.receive_some(RECEIVE_SIZE))
    if not first:
        return None
    expects_header = proxy_protocol and is_trusted(peer, trusted)
    if not expects_header:
        if looks_like_proxy_header(first[:12]):
            raise _untrusted_header(peer)
        return peer, first
    parser = ProxyHeaderParser()
    parser.feed(first)
    with trio.fail_after(PROXY_HEADER_TIMEOUT_S):
        while not isinstance(result := parser.next_result(), ProxyInfo):
            more = bytes(await stream.receive_some(RECEIVE_SIZE))
            if not more:
                return None
            parser.feed(more)
    # LOCAL / UNKNOWN (the balancer's own health check): the peer speaks for itself.
    client = result.source[0] if result.source is not None else peer
    return client.removeprefix("::ffff:"), parser.rest
