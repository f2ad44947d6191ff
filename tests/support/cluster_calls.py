"""Calls on the loopback cluster (deploy/local_cluster.py) that its tests share: through
the balancer, straight to PostgreSQL and S3, and stopping or starting nodes."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import psycopg

from app.media.probe import probe_media
from deploy.local_cluster import BLOB_PREFIX, LocalCluster
from deploy.processes import alive, wait_until
from tests.support.spec_client import Answer, SpecClient

# Short enough for a test to wait out; renewed every third of it.
TASK_LEASE = "8s"
RESIZE = {"op": "resize", "width": 480}


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


def submit(
    cluster: LocalCluster,
    source: str,
    payload: bytes,
    doc: dict[str, Any] = RESIZE,
    media_type: str = "mp4",
) -> str:
    """Upload through the balancer; the accepted job's id."""
    accepted = via_balancer(cluster, source, doc, media_type=media_type, payload=payload)
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
