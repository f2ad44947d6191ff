"""Three nodes behind a real HAProxy on loopback (docs/scale.md; deploy/haproxy.cfg)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.balancer_config import write_haproxy_config
from tests.support.media_files import make_clip
from tests.support.server_process import ServerProcess, wait_for
from tests.support.spec_client import SpecClient

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="needs haproxy (Debian: apt-get install haproxy)"
)


def run_job(port: int, source: str, payload: bytes) -> str:
    """Upload, poll and download through the balancer from `source`; return the job id."""
    answer = SpecClient("127.0.0.1", port, source).request(
        {"op": "compress"}, media_type="mp4", payload=payload
    )
    assert answer.doc.get("status") == "accepted", (source, answer.doc)
    job_id = answer.doc["job_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = SpecClient("127.0.0.1", port, source).request(
            {"op": "status", "job_id": job_id, "wait_s": 5}
        )
        if status.doc["state"] in ("done", "failed", "cancelled"):
            break
    assert status.doc["state"] == "done", status.doc
    got = SpecClient("127.0.0.1", port, source).request({"op": "download", "job_id": job_id})
    assert got.doc["status"] == "ok" and len(got.payload) == got.doc["size"]
    return str(job_id)


@pytest.fixture
def cluster(tmp_path: Path):
    nodes = [
        ServerProcess(
            tmp_path / f"n{i}",
            (
                "--node-id",
                f"n{i}",
                "--proxy-protocol",
                "--trusted-proxy",
                "127.0.0.1",
                "--metrics",
                "127.0.0.1:0",
            ),
        ).start()
        for i in (1, 2, 3)
    ]
    cfg = tmp_path / "haproxy.cfg"
    port = write_haproxy_config(cfg, nodes, check_ms=300)
    haproxy = subprocess.Popen(
        ["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    assert wait_for(listening), "haproxy did not start"
    yield port, nodes
    haproxy.send_signal(signal.SIGTERM)
    haproxy.wait(10)
    for node in nodes:
        node.stop()


def test_clients_spread_over_nodes_and_survive_a_node_loss(cluster, tmp_path: Path) -> None:
    port, nodes = cluster
    payload = make_clip(tmp_path / "tiny.mp4", seconds=1, size="160x120").read_bytes()
    sources = [f"127.0.0.{i}" for i in range(2, 22)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        job_ids = list(pool.map(lambda src: run_job(port, src, payload), sources))
    # Every job finished and downloaded; they spread over all three nodes.
    assert {job_id.split("-")[0] for job_id in job_ids} == {"n1", "n2", "n3"}
    # Per-IP rules count real clients, not the balancer: 20 clients held jobs at once
    # through one balancer address above. One client still gets one job at a time:
    slow = make_clip(tmp_path / "slow.mp4", seconds=12, size="1280x720").read_bytes()
    first = SpecClient("127.0.0.1", port, "127.0.0.30").request(
        {"op": "compress"}, media_type="mp4", payload=slow
    )
    assert first.doc["status"] == "accepted"
    second = SpecClient("127.0.0.1", port, "127.0.0.30").request(
        {"op": "compress"}, media_type="mp4", payload=payload
    )
    assert second.doc["error"]["code"] == "job_limit"
    assert "127.0.0.30" in second.doc["error"]["description"]
    SpecClient("127.0.0.1", port, "127.0.0.30").request(
        {"op": "cancel", "job_id": first.doc["job_id"]}
    )
    # Kill one node: new clients are served by the others.
    victim = nodes[0]
    victim.kill()
    time.sleep(1.5)  # the health check marks it down
    late = [run_job(port, f"127.0.0.{i}", payload) for i in range(40, 46)]
    assert all(not job_id.startswith("n1-") for job_id in late)
    # The survivors hold no partial file; the killed node sweeps its own at restart.
    for node in nodes[1:]:
        assert not [p for p in node.files() if p.name.endswith(".part")]
    victim.start()
    assert not [p for p in victim.files() if p.name.endswith(".part")]
