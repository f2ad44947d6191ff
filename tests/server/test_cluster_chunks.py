"""A chunked compress in the loopback cluster (docs/scale.md, "Chunks on the queue"): one
job's trials and chunks run on several nodes through the work queue, and when the node
running the job dies, another finishes it from the tasks already done."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import pytest

from deploy.local_cluster import BLOB_PREFIX, LocalCluster
from deploy.processes import wait_until
from tests.support.cluster_calls import (
    download,
    finished,
    row,
    s3,
    stop_node,
    submit,
    wait_status,
)
from tests.support.engines import cluster_tools_missing
from tests.support.fidelity_media import multi_scene_clip
from tests.support.media_files import decode_all_frames, probe

pytestmark = pytest.mark.skipif(
    cluster_tools_missing() is not None, reason=str(cluster_tools_missing())
)

# 8 shots of 4.2 s: 33.6 s in Matroska, chunked by default (VCS_COMPRESS_CHUNKS=auto).
COMPRESS = {"op": "compress", "target_vmaf": 92}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return multi_scene_clip(tmp_path_factory.mktemp("shots") / "shots.mkv", shots=8)


def chunk_tasks(cluster: LocalCluster, job_id: str) -> list[tuple[str, str | None]]:
    """(state, node) of the job's chunk tasks in the job store."""
    with psycopg.connect(cluster.state["postgres"]["dsn"], connect_timeout=5) as conn:
        return conn.execute(
            "SELECT state, node FROM vcs_tasks WHERE job_id = %s AND kind = 'chunk'", (job_id,)
        ).fetchall()


def stored_chunks(cluster: LocalCluster, job_id: str) -> list[str]:
    listing = s3(cluster).list_objects_v2(
        Bucket=cluster.state["s3"]["bucket"], Prefix=f"{BLOB_PREFIX}/chunks/{job_id}/"
    )
    return [o["Key"] for o in listing.get("Contents", [])]


def delivered(cluster: LocalCluster, source: str, job_id: str, shots: Path, into: Path) -> None:
    """The result downloads and plays (every frame, its sound); the job's chunk objects
    and tasks went with it."""
    result = download(cluster, source, job_id, into / "out.mkv")
    assert decode_all_frames(result) == decode_all_frames(shots)
    got = probe(result)
    assert got["video_codec"] == "h264" and got["audio_codec"] == "aac"
    assert wait_until(lambda: stored_chunks(cluster, job_id) == [], 20)
    assert chunk_tasks(cluster, job_id) == []


def test_one_jobs_chunks_are_encoded_on_several_nodes(
    nodes_up: LocalCluster, shots: Path, tmp_path: Path
) -> None:
    cluster = nodes_up
    source = "127.0.4.1"
    job_id = submit(cluster, source, shots.read_bytes(), COMPRESS, media_type="mkv")
    done = wait_status(cluster, source, job_id, finished, 600)
    assert done["state"] == "done", done
    result = done["result"]
    chunked = result["chunked"]
    assert len(chunked["nodes"]) >= 2, chunked  # the job's node and at least one other
    assert sum(chunked["nodes"].values()) == len(result["chunks"])
    assert {row["node"] for row in result["chunks"]} == set(chunked["nodes"])
    queue = chunked["queue"]
    assert queue["chunk_tasks"] >= len(result["chunks"])
    # The trials, too, ran on several nodes: each chunk's at two CRFs at least.
    assert queue["trial_tasks"] >= 2 * len(result["chunks"])
    assert sum(queue["trial_nodes"].values()) == queue["trial_tasks"]
    assert len(queue["trial_nodes"]) >= 2, queue
    delivered(cluster, source, job_id, shots, tmp_path)


def test_a_job_whose_node_dies_mid_chunks_finishes_from_the_chunks_done(
    nodes_up: LocalCluster, shots: Path, tmp_path: Path
) -> None:
    cluster = nodes_up
    source = "127.0.4.2"
    job_id = submit(cluster, source, shots.read_bytes(), COMPRESS, media_type="mkv")
    done_states = lambda: [s for s, _ in chunk_tasks(cluster, job_id) if s == "done"]  # noqa: E731
    assert wait_until(lambda: len(done_states()) >= 1, 400), chunk_tasks(cluster, job_id)
    first = row(cluster, job_id)
    assert first is not None and first["state"] == "running"
    stop_node(cluster, first["node"], signal.SIGKILL, "Layer4")
    done_at_kill = len(done_states())

    # The job's lease runs out; another node runs it again and queues the same chunks:
    # those done are fetched from S3, not encoded again.
    final = wait_status(cluster, source, job_id, finished, 600)
    assert final["state"] == "done", final
    second = row(cluster, job_id)
    assert second is not None and second["node"] != first["node"] and second["attempts"] == 2
    queue = final["result"]["chunked"]["queue"]
    assert queue["from_earlier_runs"] >= done_at_kill, queue
    delivered(cluster, source, job_id, shots, tmp_path)
