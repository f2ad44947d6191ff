"""Three vcs-serve nodes on one PostgreSQL and one S3 store, behind HAProxy (docs/scale.md,
docs/scale.md): any node serves any job, a dead node's job runs elsewhere and its
result outlives it, the address rule and the quota hold cluster-wide, a cut upload
leaves nothing, a PostgreSQL restart loses no acknowledged job, and a draining node
gets no new clients. One cluster (scripts/cluster's LocalCluster) serves the session
(tests/server/conftest.py)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from deploy.local_cluster import BLOB_PREFIX, LocalCluster
from deploy.processes import alive, wait_until
from tests.support.cluster_calls import (
    balancer,
    download,
    finished,
    node_names,
    quota_used,
    row,
    rows_of,
    stop_node,
    stored_uploads,
    submit,
    via_balancer,
    wait_status,
    what_a_player_sees,
)
from tests.support.engines import cluster_tools_missing
from tests.support.spec_client import SpecClient, header64
from tests.support.spec_raw_client import fake_mp4

pytestmark = pytest.mark.skipif(
    cluster_tools_missing() is not None, reason=str(cluster_tools_missing())
)

MiB = 1024 * 1024


def test_a_job_whose_node_dies_finishes_elsewhere_and_outlives_that_node_too(
    nodes_up: LocalCluster, slow_clip: Path, tmp_path: Path
) -> None:
    cluster = nodes_up
    source = "127.0.3.1"
    job_id = submit(cluster, source, slow_clip.read_bytes())
    assert job_id.split("-")[0] in node_names(cluster)  # the node that accepted it

    # It runs (FFmpeg has made progress) on some node: that node is SIGKILLed.
    wait_status(
        cluster, source, job_id, lambda s: s["state"] == "running" and s["progress"] > 0, 120
    )
    first = row(cluster, job_id)
    assert first is not None and first["attempts"] == 1
    stop_node(cluster, first["node"], signal.SIGKILL, "Layer4")

    # Its lease runs out; another node runs it again from its input in S3.
    done = wait_status(cluster, source, job_id, finished, 240)
    assert done["state"] == "done", done
    second = row(cluster, job_id)
    assert second is not None and second["attempts"] == 2 and second["node"] != first["node"]

    # The node that finished it dies too: the result is in S3, any node sends it.
    stop_node(cluster, second["node"], signal.SIGKILL, "Layer4")
    result = download(cluster, source, job_id, tmp_path / "result.mp4")

    # The same job run afresh, undisturbed, gives what a player would see the same way.
    fresh_id = submit(cluster, "127.0.3.2", slow_clip.read_bytes())
    assert wait_status(cluster, "127.0.3.2", fresh_id, finished, 240)["state"] == "done"
    fresh_result = download(cluster, "127.0.3.2", fresh_id, tmp_path / "fresh.mp4")
    assert what_a_player_sees(result) == what_a_player_sees(fresh_result)
    assert what_a_player_sees(result)[3][1:3] == (480, 270)


def ffmpegs_under(pid: int) -> int:
    """FFmpeg processes among `pid`'s descendants."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        child = int(stat.parent.name)
        parents[child], names[child] = int(fields[1]), name
    count = 0
    for child, name in names.items():
        ancestor = parents.get(child)
        while ancestor and ancestor != pid:
            ancestor = parents.get(ancestor)
        count += ancestor == pid and "ffmpeg" in name
    return count


def test_a_cancel_sent_to_any_node_stops_the_run_on_its_node(
    nodes_up: LocalCluster, slow_clip: Path
) -> None:
    cluster = nodes_up
    source = "127.0.3.50"
    job_id = submit(cluster, source, slow_clip.read_bytes())
    wait_status(
        cluster, source, job_id, lambda s: s["state"] == "running" and s["progress"] > 0, 120
    )
    running = row(cluster, job_id)
    assert running is not None
    runner = cluster.node(running["node"])
    assert ffmpegs_under(runner["pid"]) >= 1
    # Straight to another node: it ends the row; the runner hears and kills its FFmpeg.
    other = next(n for n in cluster.state["nodes"] if n["name"] != runner["name"])
    client = SpecClient("127.0.0.1", other["port"], source)
    answer = client.request({"op": "cancel", "job_id": job_id})
    client.close()
    assert answer.doc.get("status") == "cancelled", answer.doc
    assert wait_until(lambda: ffmpegs_under(runner["pid"]) == 0, 10)
    status = wait_status(cluster, source, job_id, finished, 10)
    assert status["state"] == "cancelled"
    ended = row(cluster, job_id)
    assert ended is not None and (ended["state"], ended["node"]) == ("cancelled", runner["name"])


def test_one_address_gets_one_job_across_nodes_refused_before_its_payload(
    nodes_up: LocalCluster,
) -> None:
    cluster = nodes_up
    source = "127.0.3.10"
    a, b = cluster.state["nodes"][0], cluster.state["nodes"][1]
    size = 12 * MiB
    payload = fake_mp4(size)
    body = b'{"op":"compress"}'
    # Straight to node a (not through the balancer): an upload in progress.
    first = SpecClient("127.0.0.1", a["port"], source)
    first.send_bytes(header64(len(body), 3, size) + body + b"mp4" + payload[: 2 * MiB])
    assert wait_until(lambda: [s for _, s in rows_of(cluster, source)] == ["uploading"], 20)
    before = stored_uploads(cluster)
    # Node b, same address: refused on its header alone, before a payload byte.
    second = SpecClient("127.0.0.1", b["port"], source)
    second.send_bytes(header64(len(body), 3, size) + body + b"mp4")
    refused = second.receive()
    second.close()
    assert refused.doc["error"]["code"] == "job_limit", refused.doc
    assert source in refused.doc["error"]["description"]
    assert len(rows_of(cluster, source)) == 1  # no row of its own
    assert stored_uploads(cluster) == before  # nothing of it in S3
    # The first goes on and is accepted; its job then frees the address (cancel).
    first.send_bytes(payload[2 * MiB :])
    accepted = first.receive()
    first.close()
    assert accepted.doc.get("status") == "accepted", accepted.doc
    cancelled = via_balancer(cluster, source, {"op": "cancel", "job_id": accepted.doc["job_id"]})
    assert cancelled.doc.get("status") == "cancelled", cancelled.doc


def test_an_upload_cut_midway_leaves_no_object_no_row_and_no_quota(nodes_up: LocalCluster) -> None:
    cluster = nodes_up
    source = "127.0.3.20"
    used = quota_used(cluster)
    size = 40 * MiB
    body = b'{"op":"compress"}'
    host, port = balancer(cluster)
    client = SpecClient(host, port, source)
    client.send_bytes(header64(len(body), 3, size) + body + b"mp4" + fake_mp4(size)[: 20 * MiB])
    assert wait_until(lambda: len(rows_of(cluster, source)) == 1, 30)
    [(job_id, state)] = rows_of(cluster, source)
    key = f"{BLOB_PREFIX}/uploads/{job_id}"
    # At least one 8 MiB part went to S3: the upload's multipart upload exists.
    assert wait_until(lambda: key in stored_uploads(cluster)[1], 30), stored_uploads(cluster)
    assert state == "uploading" and quota_used(cluster) > used
    client.close()  # the client vanishes mid-payload

    def nothing_left() -> bool:
        objects, partial = stored_uploads(cluster)
        return (
            rows_of(cluster, source) == []
            and key not in objects
            and key not in partial
            and quota_used(cluster) == used
        )

    assert wait_until(nothing_left, 30), (rows_of(cluster, source), stored_uploads(cluster))


def test_a_postgres_restart_loses_no_acknowledged_job(
    nodes_up: LocalCluster, clip_mp4: Path, tmp_path: Path
) -> None:
    cluster = nodes_up
    source = "127.0.3.30"
    job_id = submit(cluster, source, clip_mp4.read_bytes())
    postgres = cluster.postgres()
    postgres.stop()
    try:
        # While it is down, requests are refused cleanly (nothing half-done).
        answer = via_balancer(cluster, source, {"op": "status", "job_id": job_id})
        assert answer.doc["error"]["code"] == "store_unavailable", answer.doc
    finally:
        postgres.start()
        cluster.state["postgres"]["pid"] = postgres.pid
        cluster.save()
    # The nodes reconnect by themselves; the acknowledged job finishes and downloads.
    done = wait_status(cluster, source, job_id, finished, 180)
    assert done["state"] == "done", done
    download(cluster, source, job_id, tmp_path / "after-restart.mp4")
    # And new work is taken again.
    again = submit(cluster, "127.0.3.31", clip_mp4.read_bytes())
    assert wait_status(cluster, "127.0.3.31", again, finished, 180)["state"] == "done"


def test_a_draining_node_gets_no_new_clients(nodes_up: LocalCluster, slow_clip: Path) -> None:
    """SIGTERM: the node's /health says 503 draining, HAProxy's HTTP check takes it out
    (deploy/haproxy.cfg), and new connections go to the others while it finishes."""
    cluster = nodes_up
    source = "127.0.3.40"
    job_id = submit(cluster, source, slow_clip.read_bytes())
    wait_status(cluster, source, job_id, lambda s: s["state"] == "running", 120)
    runner = row(cluster, job_id)
    assert runner is not None
    name = runner["node"]
    # Drains: its job goes on; /health answers 503, which the balancer's check reads.
    stop_node(cluster, name, signal.SIGTERM, "Layer7 wrong status, code: 503")
    # New clients, each from its own address (the balancer hashes addresses): none of
    # their uploads is accepted by the draining node.
    accepted_by = []
    for i in range(12):  # (one /24 each: --max-jobs-per-network counts per /24)
        tiny = submit(cluster, f"127.0.{40 + i}.1", fake_mp4(2000), {"op": "compress"})
        accepted_by.append(tiny.split("-")[0])
    assert name not in accepted_by and len(set(accepted_by)) == 2
    # The draining node finishes its job, then stops.
    assert wait_status(cluster, source, job_id, finished, 240)["state"] == "done"
    assert wait_until(lambda: not alive(cluster.node(name)["pid"]), 30)
