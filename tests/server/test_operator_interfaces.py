"""What an operator meets: /metrics and /health, JSON logs, and a reload on SIGHUP."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.server_process import ServerProcess, wait_for
from tests.spec_client import SpecClient


def http_get(server: ServerProcess, path: str) -> tuple[int, str]:
    assert server.metrics_port is not None, "started without --metrics"
    url = f"http://127.0.0.1:{server.metrics_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = http_get(server, "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def run_to_done(server: ServerProcess, clip: Path) -> tuple[str, int]:
    """Upload a convert job, wait for it, download it; returns (job id, result size)."""
    data = clip.read_bytes()
    accepted = SpecClient(server.host, server.port).request(
        {"op": "convert", "format": "mkv"}, media_type="mp4", payload=data
    )
    job_id = accepted.doc["job_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = SpecClient(server.host, server.port).request(
            {"op": "status", "job_id": job_id, "wait_s": 10}
        )
        if status.doc["state"] != "queued" and status.doc["state"] != "running":
            break
    assert status.doc["state"] == "done", status.doc
    download = SpecClient(server.host, server.port).request({"op": "download", "job_id": job_id})
    assert len(download.payload) == download.doc["size"]
    return job_id, len(download.payload)


def test_a_scrape_after_a_job_counts_it(start_server, clip_mp4: Path) -> None:
    server = start_server("--metrics", "127.0.0.1:0")
    _, result_size = run_to_done(server, clip_mp4)
    refused = SpecClient(server.host, server.port).request({"op": "transmogrify"})
    assert refused.doc["error"]["code"] == "unknown_op"
    samples = scrape(server)
    assert samples[("vcs_jobs_accepted_total", (("op", "convert"),))] == 1
    assert samples[("vcs_jobs_finished_total", (("op", "convert"), ("state", "done")))] == 1
    assert samples[("vcs_jobs", (("op", "convert"), ("state", "done")))] == 1
    size = clip_mp4.stat().st_size
    assert samples[("vcs_transfer_bytes_total", (("direction", "in"), ("port", "mmp")))] == size
    out = samples[("vcs_transfer_bytes_total", (("direction", "out"), ("port", "mmp")))]
    assert out == result_size
    assert samples[("vcs_refusals_total", (("code", "unknown_op"), ("port", "mmp")))] == 1
    assert samples[("vcs_queue_length", ())] == 0
    # Downloaded: the result is gone, so nothing is held.
    assert samples[("vcs_quota_used_bytes", ())] == 0
    assert samples[("vcs_quota_limit_bytes", ())] == 4 * 10**12
    assert samples[("vcs_ffmpeg_cpu_seconds_total", ())] > 0
    assert samples[("vcs_draining", ())] == 0


def test_health_says_draining_while_jobs_finish(start_server, slow_clip: Path) -> None:
    server = start_server("--metrics", "127.0.0.1:0", "--drain-timeout", "60", "--max-jobs", "1")
    assert http_get(server, "/health") == (200, "ok\n")
    assert http_get(server, "/nowhere")[0] == 404
    accepted = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=slow_clip.read_bytes()
    )
    assert accepted.doc["status"] == "accepted"
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: http_get(server, "/health") == (503, "draining\n"), timeout_s=20)
    assert scrape(server)[("vcs_draining", ())] == 1
    server.proc.send_signal(signal.SIGTERM)  # the second signal stops at once
    assert server.proc.wait(30) == 0


def test_json_logs_are_one_object_per_line(start_server, clip_mp4: Path) -> None:
    server = start_server("--log-format", "json", "--verbose")
    SpecClient(server.host, server.port).request({"op": "status", "job_id": "0" * 32})
    server.stop()
    logged = [line for line in server.log if not line.startswith("vcs-serve ")]
    assert logged, "the server logged nothing"
    for line in logged:
        doc = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= doc.keys()
    assert any("server key" in json.loads(line)["msg"] for line in logged)


def connections_from(server: ServerProcess, count: int) -> list[socket.socket]:
    return [socket.create_connection((server.host, server.port), timeout=10) for _ in range(count)]


def refused(sock: socket.socket) -> bool:
    """Whether the server turned this connection away (it answers an error and closes)."""
    sock.settimeout(2)
    try:
        return sock.recv(1) != b""
    except TimeoutError:
        return False


def test_sighup_applies_a_changed_config_file(start_server, tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text("max-connections-per-ip = 2\n")
    server = start_server("--config", str(config))
    held = connections_from(server, 2)
    try:
        assert refused(connections_from(server, 1)[0])
        config.write_text('max-connections-per-ip = 4\nnode-id = "n9"\n')
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: any("reloaded settings" in line for line in server.log))
        # The new cap holds; the node id waits for a restart (said in the log).
        third = connections_from(server, 1)
        assert not refused(third[0])
        assert any("after a restart: node_id" in line for line in server.log)
        held += third
    finally:
        for sock in held:
            sock.close()
