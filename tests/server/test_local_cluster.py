"""`scripts/cluster` (deploy/local_cluster.py): up prints one JSON line and everything it
names answers; kill ends one node; down ends every process it started."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from deploy.processes import alive, port_open, wait_until
from tests.support.engines import cluster_tools_missing
from tests.support.spec_client import SpecClient

pytestmark = pytest.mark.skipif(
    cluster_tools_missing() is not None, reason=str(cluster_tools_missing())
)


def cluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.local_cluster", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_up_kill_down(tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    started = cluster("up", "--nodes", "2", "--dir", str(directory))
    try:
        assert started.returncode == 0, started.stderr
        lines = started.stdout.strip().splitlines()
        assert len(lines) == 1
        info = json.loads(lines[0])
        assert [node["name"] for node in info["nodes"]] == ["n1", "n2"]
        assert "secret" not in lines[0].lower()
        # The balancer reaches a node, which answers in MMP.
        port = int(info["balancer"].rsplit(":", 1)[1])
        answer = SpecClient("127.0.0.1", port, "127.0.0.9").request(
            {"op": "status", "job_id": "0" * 32}
        )
        assert answer.doc["error"]["code"] == "job_not_found"
        with psycopg.connect(info["postgres"], connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert port_open(int(info["s3"]["endpoint"].rsplit(":", 1)[1]))
        assert (directory / "s3.env").stat().st_mode & 0o077 == 0

        victim = info["nodes"][1]
        assert cluster("kill", "n2", "--dir", str(directory)).returncode == 0
        assert wait_until(lambda: not alive(victim["pid"]), 10)
        assert alive(info["nodes"][0]["pid"])
    finally:
        stopped = cluster("down", "--dir", str(directory))
    assert stopped.returncode == 0, stopped.stderr
    state = json.loads(started.stdout) if started.returncode == 0 else None
    if state is not None:
        for node in state["nodes"]:
            assert wait_until(lambda pid=node["pid"]: not alive(pid), 10)
        assert not port_open(port)
    assert not (directory / "cluster.json").exists()
