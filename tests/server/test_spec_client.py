"""A client written only from the spec can do everything, and its mistakes get error JSON."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from tests.support.media_files import decode_all_frames, probe
from tests.support.server_process import ServerProcess
from tests.support.spec_client import SpecClient, header64


def poll_until_done(server: ServerProcess, job_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        client = SpecClient(server.host, server.port)
        try:
            status = client.request({"op": "status", "job_id": job_id, "wait_s": 5}).doc
        finally:
            client.close()
        if status["state"] in ("done", "failed", "cancelled"):
            return status
    raise AssertionError("job did not finish")


@pytest.mark.parametrize("dialect", [64, 8])
def test_upload_poll_download(
    server: ServerProcess, clip_mp4: Path, tmp_path: Path, dialect: int
) -> None:
    data = clip_mp4.read_bytes()
    client = SpecClient(server.host, server.port)
    answer = client.request(
        {"op": "compress", "sha256": hashlib.sha256(data).hexdigest()},
        media_type="mp4",
        payload=data,
        dialect=dialect,
    )
    client.close()
    assert answer.header_size == dialect  # answered in the dialect it was asked in
    assert answer.doc["status"] == "accepted"
    job_id = answer.doc["job_id"]
    assert len(job_id) >= 32

    status = poll_until_done(server, job_id)
    assert status["state"] == "done", status
    assert status["progress"] == 1
    assert 0 < status["result"]["size"] < len(data)

    client = SpecClient(server.host, server.port)
    got = client.request({"op": "download", "job_id": job_id}, dialect=dialect)
    client.close()
    assert got.header_size == dialect
    assert got.media_type == "mp4"
    assert len(got.payload) == got.doc["size"]
    assert hashlib.sha256(got.payload).hexdigest() == got.doc["sha256"]
    out = tmp_path / "out.mp4"
    out.write_bytes(got.payload)
    info = probe(out)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert (info["width"], info["height"]) == (640, 360)
    assert decode_all_frames(out) == 100
    # Downloaded results are deleted from the server.
    assert server.files() == []
    client = SpecClient(server.host, server.port)
    again = client.request({"op": "download", "job_id": job_id})
    assert again.doc["error"]["code"] == "job_not_found"


def test_cancel_a_running_job(start_server, slow_clip: Path) -> None:
    server = start_server("--max-jobs", "1")
    client = SpecClient(server.host, server.port)
    answer = client.request({"op": "compress"}, media_type="mp4", payload=slow_clip.read_bytes())
    job_id = answer.doc["job_id"]
    cancelled = client.request({"op": "cancel", "job_id": job_id})
    assert cancelled.doc == {"status": "cancelled", "job_id": job_id}
    status = client.request({"op": "status", "job_id": job_id}).doc
    assert status["state"] == "cancelled"
    client.close()
    deadline = time.monotonic() + 10
    while server.files() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.files() == []  # the input went with the job


def framed(body: bytes, mt: bytes = b"", payload: bytes = b"") -> bytes:
    return header64(len(body), len(mt), len(payload)) + body + mt + payload


BAD_REQUESTS = [
    ("oversized JSON size", header64(70_000, 0, 0), "json_size"),
    ("JSON size below 2", header64(1, 0, 0) + b"{", "json_size"),
    ("huge payload", header64(2, 3, 2**47 + 1) + b"{}mp4", "payload_too_large"),
    ("invalid JSON", framed(b"{oops"), "bad_json"),
    ("JSON not an object", framed(b"[]"), "bad_json"),
    ("unknown op", framed(b'{"op": "format"}'), "unknown_op"),
    ("no op", framed(b"{}"), "unknown_op"),
    ("path in media type", framed(b'{"op":"compress"}', b"../x", b"0" * 10), "bad_media_type"),
    ("odd UTF-8 media type", framed(b'{"op":"compress"}', "mpé4".encode(), b"0"), "bad_media_type"),
    ("missing job", framed(b'{"op": "status", "job_id": "0123456789ab"}'), "job_not_found"),
    ("bad codec", framed(b'{"op":"compress","codec":"xvid"}', b"mp4", b"abcd"), "bad_params"),
    ("upload without payload", framed(b'{"op":"compress"}'), "payload_required"),
    (
        "status with payload",
        framed(b'{"op":"status","job_id":"x"}', b"bin", b"zz"),
        "payload_unexpected",
    ),
]


@pytest.mark.parametrize(("name", "raw", "code"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_input_gets_error_json_and_a_clean_close(
    server: ServerProcess, name: str, raw: bytes, code: str
) -> None:
    client = SpecClient(server.host, server.port, timeout=10)
    client.send_bytes(raw)
    answer = client.receive()
    assert set(answer.doc) == {"error"}
    error = answer.doc["error"]
    assert error["code"] == code, error
    assert error["description"] and error["solution"]
    assert answer.media_type == "" and answer.payload == b""
    assert client.is_closed()
    client.close()
    # The server keeps serving others.
    other = SpecClient(server.host, server.port)
    assert other.request({"op": "status", "job_id": "f" * 32}).doc["error"]["code"] == (
        "job_not_found"
    )
    other.close()
    assert server.proc is not None and server.proc.poll() is None
    assert server.files() == []


def test_errors_answer_in_the_8_byte_dialect(server: ServerProcess) -> None:
    client = SpecClient(server.host, server.port)
    answer = client.request({"op": "nope"}, dialect=8)
    assert answer.header_size == 8
    assert answer.doc["error"]["code"] == "unknown_op"


def test_hash_mismatch_stores_nothing(server: ServerProcess, clip_mp4: Path) -> None:
    client = SpecClient(server.host, server.port)
    answer = client.request(
        {"op": "compress", "sha256": "0" * 64}, media_type="mp4", payload=clip_mp4.read_bytes()
    )
    assert answer.doc["error"]["code"] == "hash_mismatch"
    assert server.files() == []
    # And the IP is free again: the next upload is accepted.
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=clip_mp4.read_bytes()
    )
    assert answer.doc["status"] == "accepted"


def test_unreadable_media_fails_the_job_with_a_reason(server: ServerProcess) -> None:
    client = SpecClient(server.host, server.port)
    answer = client.request({"op": "compress"}, media_type="mp4", payload=b"\x00junk" * 2000)
    status = poll_until_done(server, answer.doc["job_id"])
    assert status["state"] == "failed"
    assert status["error"]["code"] == "unreadable_media"
    assert server.files() == []


def test_job_ids_name_the_node_that_accepted_them(start_server, clip_mp4: Path) -> None:
    """The prefix is for logs only: a job is found by its whole id, whatever node it names
    (a cluster's nodes share one job store, docs/scale.md)."""
    server = start_server("--node-id", "n2")
    client = SpecClient(server.host, server.port)
    answer = client.request({"op": "compress"}, media_type="mp4", payload=clip_mp4.read_bytes())
    job_id = answer.doc["job_id"]
    assert job_id.startswith("n2-") and len(job_id) == 3 + 32
    status = SpecClient(server.host, server.port).request({"op": "status", "job_id": job_id})
    assert status.doc["job_id"] == job_id
    for other in ("n1-" + job_id[3:], job_id[3:]):
        unknown = SpecClient(server.host, server.port).request({"op": "status", "job_id": other})
        assert unknown.doc["error"]["code"] == "job_not_found"


def test_connections_reset_at_once_do_not_hurt_the_server(server: ServerProcess) -> None:
    """A balancer's health check connects and resets; the server must shrug it off."""
    import socket
    import struct

    for _ in range(20):
        sock = socket.create_connection((server.host, server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST
    client = SpecClient(server.host, server.port)
    assert client.request({"op": "status", "job_id": "f" * 32}).doc["error"]["code"] == (
        "job_not_found"
    )
    assert server.proc is not None and server.proc.poll() is None
    assert not any("Traceback" in line for line in server.log)
