"""All-or-nothing uploads, the quota, the per-IP rule and the restart sweep (SPEC §3)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.server_process import ServerProcess, wait_for
from tests.spec_client import SpecClient, header64


def start_upload(server: ServerProcess, data: bytes, sent: int, source: str | None = None):
    """Declare the whole of `data`, send only its first `sent` bytes; return the client."""
    client = SpecClient(server.host, server.port, source)
    body = b'{"op":"compress"}'
    client.send_bytes(header64(len(body), 3, len(data)) + body + b"mp4" + data[:sent])
    return client


def test_aborted_uploads_leave_nothing_and_free_the_reservation(
    start_server, clip_mp4: Path
) -> None:
    data = clip_mp4.read_bytes()
    # The quota holds exactly one upload of this file: a leaked reservation would refuse
    # the final upload.
    server = start_server("--max-bytes-per-address", "0", "--quota", str(len(data)))
    for offset in (0, 1, 1399, 1400, 65_536, len(data) // 2, len(data) - 1):
        client = start_upload(server, data, offset)
        # The server makes the partial file as soon as the head is in.
        assert wait_for(lambda: len(server.files()) == 1), "no partial file while uploading"
        client.close()  # the client dies mid-upload
        assert wait_for(lambda: server.files() == []), f"partial file left at offset {offset}"
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=data
    )
    assert answer.doc.get("status") == "accepted", answer.doc
    # A client dying is routine, not an internal error.
    assert not any("internal error" in line or "Traceback" in line for line in server.log)


def test_quota_exhaustion_is_refused_before_the_payload(start_server, clip_mp4: Path) -> None:
    data = clip_mp4.read_bytes()
    server = start_server("--max-bytes-per-address", "0", "--quota", str(len(data) - 1))
    client = SpecClient(server.host, server.port)
    # Only the head is sent: the refusal must come before any payload byte.
    body = b'{"op":"compress"}'
    client.send_bytes(header64(len(body), 3, len(data)) + body + b"mp4")
    answer = client.receive()
    assert answer.doc["error"]["code"] == "quota_exceeded"
    assert "full" in answer.doc["error"]["description"]
    assert client.is_closed()
    assert server.files() == []


def test_one_job_per_ip_while_it_runs(start_server, slow_clip: Path, clip_mp4: Path) -> None:
    server = start_server("--max-jobs", "1")
    first = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=slow_clip.read_bytes()
    )
    assert first.doc["status"] == "accepted"
    # Same IP, while the first job is queued or running: refused before the payload.
    client = SpecClient(server.host, server.port)
    body = b'{"op":"compress"}'
    client.send_bytes(header64(len(body), 3, 10**9) + body + b"mp4")
    second = client.receive()
    assert second.doc["error"]["code"] == "job_limit"
    assert "127.0.0.1" in second.doc["error"]["description"]
    # Another loopback address is another client.
    other = SpecClient(server.host, server.port, source="127.0.0.2").request(
        {"op": "compress"}, media_type="mp4", payload=clip_mp4.read_bytes()
    )
    assert other.doc["status"] == "accepted", other.doc
    status = SpecClient(server.host, server.port).request(
        {"op": "status", "job_id": first.doc["job_id"]}
    )
    assert status.doc["state"] in ("queued", "running")
    for job in (first, other):
        SpecClient(server.host, server.port).request({"op": "cancel", "job_id": job.doc["job_id"]})


def test_restart_sweeps_partial_files(start_server, clip_mp4: Path, tmp_path: Path) -> None:
    storage = tmp_path / "kept"
    server = start_server(storage_dir=storage)
    data = clip_mp4.read_bytes()
    client = start_upload(server, data, len(data) // 2)
    assert wait_for(lambda: len(server.files()) == 1)
    server.stop(signal.SIGKILL)  # no chance to clean up
    client.close()
    leftovers = server.files()
    assert leftovers and all(p.name.endswith(".part") for p in leftovers)
    (storage / "results" / ".stray.part").write_bytes(b"x")
    server.start()
    assert server.files() == []


def test_sigterm_stops_cleanly_mid_upload(start_server, clip_mp4: Path) -> None:
    server = start_server()
    data = clip_mp4.read_bytes()
    client = start_upload(server, data, len(data) // 2)
    assert wait_for(lambda: len(server.files()) == 1)
    assert server.stop(signal.SIGTERM) == 0
    client.close()
    assert server.files() == []


def test_finished_results_survive_a_restart(start_server, clip_mp4: Path, tmp_path: Path) -> None:
    storage = tmp_path / "kept"
    server = start_server(storage_dir=storage)
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=clip_mp4.read_bytes()
    )
    job_id = answer.doc["job_id"]

    def done() -> bool:
        status = SpecClient(server.host, server.port).request({"op": "status", "job_id": job_id})
        return status.doc["state"] == "done"

    assert wait_for(done, 120)
    server.stop(signal.SIGKILL)
    server.start()
    got = SpecClient(server.host, server.port).request({"op": "download", "job_id": job_id})
    assert got.doc["status"] == "ok" and len(got.payload) == got.doc["size"]


def test_sigterm_with_drain_finishes_the_running_job(
    start_server, clip_mp4: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "drained"
    server = start_server("--drain-timeout", "60", storage_dir=storage)
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=clip_mp4.read_bytes()
    )
    job_id = answer.doc["job_id"]
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    # The listener closes at once, so a balancer sends new clients elsewhere ...
    assert wait_for(lambda: not _accepts(server), 5)
    # ... and the process exits once the job is done, keeping its result.
    assert server.proc.wait(60) == 0
    server.proc = None
    server.start()
    got = SpecClient(server.host, server.port).request({"op": "download", "job_id": job_id})
    assert got.doc["status"] == "ok" and len(got.payload) == got.doc["size"]


def _accepts(server: ServerProcess) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex((server.host, server.port)) == 0


def test_a_sha256_trailer_is_checked_before_anything_is_stored(
    start_server, clip_mp4: Path
) -> None:
    """`"trailer": "sha256"`: the hash comes after the payload (the client hashed it while
    sending); a wrong one is refused with nothing kept, a right one is accepted."""
    import hashlib

    data = clip_mp4.read_bytes()
    right = hashlib.sha256(data).hexdigest()
    server = start_server()
    for trailer, code in (
        ({"sha256": "0" * 64}, "hash_mismatch"),
        ({"sha256": right, "extra": 1}, "bad_params"),
        ({"nothing": right}, "bad_params"),
    ):
        client = SpecClient(server.host, server.port)
        client.send({"op": "compress", "trailer": "sha256"}, media_type="mp4", payload=data)
        client.send(trailer)
        assert client.receive().doc["error"]["code"] == code
        client.close()
        assert wait_for(lambda: server.files() == []), trailer
    both = SpecClient(server.host, server.port).request(
        {"op": "compress", "trailer": "sha256", "sha256": right}, media_type="mp4", payload=data
    )
    assert both.doc["error"]["code"] == "bad_params"
    cut = SpecClient(server.host, server.port)
    cut.send({"op": "compress", "trailer": "sha256"}, media_type="mp4", payload=data)
    cut.sock.shutdown(1)  # the payload, then the end: no trailer
    assert cut.is_closed()  # a truncation: nobody left to answer
    cut.close()
    assert wait_for(lambda: server.files() == [])
    client = SpecClient(server.host, server.port)
    client.send({"op": "compress", "trailer": "sha256"}, media_type="mp4", payload=data)
    client.send({"sha256": right})
    assert client.receive().doc["status"] == "accepted"
    client.close()
