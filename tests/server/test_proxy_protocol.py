"""Behind a balancer: the PROXY header's client address drives per-IP rules (docs/scale.md)."""

from __future__ import annotations

from pathlib import Path

from app.protocol.proxy_header import encode_v1, encode_v2
from tests.support.spec_client import SpecClient


def upload_as(server, header: bytes, payload: bytes, source: str | None = None):
    client = SpecClient(server.host, server.port, source)
    client.send_bytes(header)
    return client.request({"op": "compress"}, media_type="mp4", payload=payload)


def test_trusted_balancer_speaks_for_many_clients(start_server, slow_clip: Path) -> None:
    server = start_server("--proxy-protocol", "--trusted-proxy", "127.0.0.1", "--max-jobs", "1")
    data = slow_clip.read_bytes()
    dst = (server.host, server.port)
    first = upload_as(server, encode_v2(("10.0.0.1", 5000), dst), data)
    assert first.doc["status"] == "accepted", first.doc
    # Same real client through the balancer: one job per client IP holds.
    again = upload_as(server, encode_v1(("10.0.0.1", 5001), dst), data)
    assert again.doc["error"]["code"] == "job_limit"
    assert "10.0.0.1" in again.doc["error"]["description"]
    # Another real client behind the same balancer address is accepted.
    other = upload_as(server, encode_v2(("10.0.0.2", 5002), dst), data)
    assert other.doc["status"] == "accepted", other.doc
    for job in (first, other):
        client = SpecClient(server.host, server.port)
        client.send_bytes(encode_v2(None, None))  # LOCAL: the balancer itself
        assert client.request({"op": "cancel", "job_id": job.doc["job_id"]}).doc["status"] == (
            "cancelled"
        )


def test_untrusted_proxy_header_is_refused(start_server, clip_mp4: Path) -> None:
    server = start_server("--proxy-protocol", "--trusted-proxy", "127.0.0.1")
    client = SpecClient(server.host, server.port, source="127.0.0.5")
    client.send_bytes(encode_v1(("10.9.9.9", 1), (server.host, server.port)))
    answer = client.receive()
    assert answer.doc["error"]["code"] == "bad_proxy_header"
    assert "127.0.0.5" in answer.doc["error"]["description"]
    # A plain MMP client from an untrusted address is served as itself.
    direct = SpecClient(server.host, server.port, source="127.0.0.5").request(
        {"op": "compress"}, media_type="mp4", payload=clip_mp4.read_bytes()
    )
    assert direct.doc["status"] == "accepted"


def test_malformed_header_from_trusted_balancer_is_refused(start_server) -> None:
    server = start_server("--proxy-protocol", "--trusted-proxy", "127.0.0.0/8")
    client = SpecClient(server.host, server.port)
    client.send_bytes(b"PROXY TCP4 not-an-ip 1.2.3.4 1 2\r\n")
    assert client.receive().doc["error"]["code"] == "bad_proxy_header"
    assert client.is_closed()
