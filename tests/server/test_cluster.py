"""Three vcs-serve nodes on one PostgreSQL and one S3 store, behind HAProxy (docs/scale.md,
docs/scale.md): any node serves any job, a dead node's job runs elsewhere and its
result outlives it, the address rule and the quota hold cluster-wide, a cut upload
leaves nothing, a PostgreSQL restart loses no acknowledged job, and a draining node
gets no new clients. One cluster (scripts/cluster's LocalCluster) serves the module."""

from __future__ import annotations

import hashlib
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from app.media.probe import probe_media
from deploy.local_cluster import BLOB_PREFIX, LocalCluster
from deploy.processes import alive, wait_until
from tests.support.engines import cluster_tools_missing
from tests.support.spec_client import Answer, SpecClient, header64
from tests.support.spec_raw_client import fake_mp4

pytestmark = pytest.mark.skipif(
    cluster_tools_missing() is not None, reason=str(cluster_tools_missing())
)

MiB = 1024 * 1024
# Short enough for a test to wait out; renewed every third of it.
TASK_LEASE = "8s"
RESIZE = {"op": "resize", "width": 480}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = LocalCluster.up(tmp_path_factory.mktemp("cluster"), 3, task_lease=TASK_LEASE)
    try:
        yield running
    finally:
        running.down()


@pytest.fixture
def nodes_up(cluster: LocalCluster) -> Iterator[LocalCluster]:
    """Every node runs when the test starts and again when it ends (it may kill some)."""
    revive(cluster)
    yield cluster
    revive(cluster)


def revive(cluster: LocalCluster) -> None:
    for node in cluster.state["nodes"]:
        if not (node.get("pid") and alive(node["pid"])):
            cluster.start_node(node["name"])
    # The balancer sees them again (checks every 0.5 s, up after 2).
    assert wait_until(lambda: balancer_answers(cluster), 20)


def balancer_answers(cluster: LocalCluster) -> bool:
    try:
        answer = via_balancer(cluster, "127.0.0.99", {"op": "status", "job_id": "0" * 32})
    except OSError:
        return False
    return answer.doc.get("error", {}).get("code") == "job_not_found"


def balancer(cluster: LocalCluster) -> tuple[str, int]:
    host, port = cluster.state["balancer"].rsplit(":", 1)
    return host, int(port)


def via_balancer(cluster: LocalCluster, source: str, doc: dict[str, Any], **kw: Any) -> Answer:
    host, port = balancer(cluster)
    client = SpecClient(host, port, source, timeout=120)
    try:
        return client.request(doc, **kw)
    finally:
        client.close()


def submit(cluster: LocalCluster, source: str, payload: bytes, doc: dict[str, Any] = RESIZE) -> str:
    """Upload through the balancer; the accepted job's id."""
    accepted = via_balancer(cluster, source, doc, media_type="mp4", payload=payload)
    assert accepted.doc.get("status") == "accepted", accepted.doc
    return str(accepted.doc["job_id"])


def wait_status(
    cluster: LocalCluster, source: str, job_id: str, done: Callable[[dict], bool], timeout_s: float
) -> dict[str, Any]:
    """Poll `status` through the balancer until `done(status)`; a refusal while nodes
    come and go (store_unavailable, a reset) is polled again."""
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = via_balancer(
                cluster, source, {"op": "status", "job_id": job_id, "wait_s": 2}
            ).doc
        except OSError:
            time.sleep(0.2)
            continue
        if "error" in status and "state" not in status:
            time.sleep(0.2)
            continue
        if done(status):
            return status
    raise AssertionError(f"job {job_id} never got there: {status}")


def finished(status: dict[str, Any]) -> bool:
    return status["state"] in ("done", "failed", "cancelled")


def row(cluster: LocalCluster, job_id: str) -> dict[str, Any] | None:
    with psycopg.connect(cluster.state["postgres"]["dsn"], connect_timeout=5) as conn:
        found = conn.execute(
            "SELECT state, node, attempts, progress, client_ip FROM vcs_jobs WHERE id = %s",
            (job_id,),
        ).fetchone()
    if found is None:
        return None
    return dict(zip(("state", "node", "attempts", "progress", "client_ip"), found, strict=True))


def rows_of(cluster: LocalCluster, address: str) -> list[tuple[str, str]]:
    with psycopg.connect(cluster.state["postgres"]["dsn"], connect_timeout=5) as conn:
        return conn.execute(
            "SELECT id, state FROM vcs_jobs WHERE client_ip = %s", (address,)
        ).fetchall()


def quota_used(cluster: LocalCluster) -> int:
    with psycopg.connect(cluster.state["postgres"]["dsn"], connect_timeout=5) as conn:
        found = conn.execute("SELECT used_bytes FROM vcs_quota WHERE id = 1").fetchone()
    assert found is not None
    return int(found[0])


def s3(cluster: LocalCluster) -> Any:
    env = cluster.s3_env()
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )


def stored_uploads(cluster: LocalCluster) -> tuple[list[str], list[str]]:
    """(objects, unfinished multipart uploads) under the nodes' uploads/ area."""
    client, bucket = s3(cluster), cluster.state["s3"]["bucket"]
    prefix = f"{BLOB_PREFIX}/uploads/"
    objects = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    partial = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    return [o["Key"] for o in objects], [u["Key"] for u in partial]


def download(cluster: LocalCluster, source: str, job_id: str, into: Path) -> Path:
    got = via_balancer(cluster, source, {"op": "download", "job_id": job_id})
    assert got.doc.get("status") == "ok", got.doc
    assert len(got.payload) == got.doc["size"]
    assert hashlib.sha256(got.payload).hexdigest() == got.doc["sha256"]
    into.write_bytes(got.payload)
    return into


def what_a_player_sees(path: Path) -> tuple[Any, ...]:
    info = probe_media(path)
    assert info.video is not None
    video = info.video
    return (
        info.format_name,
        round(info.duration_s, 2),
        (info.video_streams, info.audio_streams, info.subtitle_streams),
        (video.codec, video.width, video.height, round(video.fps, 3), video.pix_fmt, video.frames),
        None if info.audio is None else (info.audio.codec, info.audio.sample_rate),
    )


def balancer_log(cluster: LocalCluster) -> str:
    return (cluster.dir / "haproxy.log").read_text()


def stop_node(cluster: LocalCluster, name: str, sig: int, reason: str) -> None:
    """Signal a node; return once the balancer's health check took it out (a client
    of a node that just died would otherwise see one reset, and try again)."""
    seen = len(balancer_log(cluster))
    cluster.kill(name, sig)
    down = re.compile(rf"Server vcs_nodes/{name} is DOWN, reason: {reason}")
    assert wait_until(lambda: down.search(balancer_log(cluster)[seen:]) is not None, 20), (
        balancer_log(cluster)[seen:]
    )


def node_names(cluster: LocalCluster) -> list[str]:
    return [node["name"] for node in cluster.state["nodes"]]


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
