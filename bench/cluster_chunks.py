"""One chunked compress spread over the loopback cluster's nodes (issue 19), and what
that projects to for 1, 3, 10 and 100 nodes.

    .venv/bin/python -m bench.cluster_chunks [--shots 8] [--size 320x180] [--write]

`scripts/cluster`'s LocalCluster: PostgreSQL, SeaweedFS, three vcs-serve nodes and
HAProxy on loopback. The same multi-scene clip (tests/support/fidelity_media.py,
`--shots` shots of 4.2 s, long enough to be chunked by default) is compressed twice in
one run: with all three nodes up, then with one (the other two stopped by SIGTERM).
From each job's report: wall time, the trials and encode phases, each chunk's encode
time, the nodes that ran the chunks and trials, and the queue's overheads per chunk
(storing it in S3, fetching it on the job's node, waiting to be claimed). The
projection, from the one-node run (the three loopback nodes share this machine's
cores, so only one node's figures measure work):

    wall(N) = serial + trial work / (N × slots)
                     + max(longest chunk, (Σ chunk encodes + chunks × overhead) / (N × slots))

`serial` (probe, scene pass, join, scoring: on the job's node) is the total minus the
trials and encode phases; trial work is the trials phase × the slots that ran it. All
of it scales with the input's length (shown for this clip and for one hour of it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import stamp, table, write_section
from deploy.local_cluster import LocalCluster
from deploy.processes import alive, wait_until
from tests.support.cluster_calls import finished, submit, wait_status
from tests.support.fidelity_media import SCENE_S, multi_scene_clip

COMPRESS = {"op": "compress", "target_vmaf": 93}
NODES = (1, 3, 10, 100)
HOUR_S = 3600.0


def run_job(cluster: LocalCluster, source: str, clip: Path) -> dict[str, Any]:
    started = time.monotonic()
    job_id = submit(cluster, source, clip.read_bytes(), COMPRESS, media_type="mkv")
    done = wait_status(cluster, source, job_id, finished, 1800)
    if done["state"] != "done":
        raise SystemExit(f"the job did not finish: {done}")
    result = dict(done["result"])
    result["client_wall_s"] = time.monotonic() - started
    return result


def figures(result: dict[str, Any], duration_s: float) -> dict[str, Any]:
    chunked, times = result["chunked"], result["time_s"]
    chunks = len(result["chunks"])
    queue = chunked["queue"]
    encode_sum = float(chunked["encode_s"]["sum"])
    overhead = (float(queue["store_s"]) + float(queue["fetch_s"])) / max(1, chunks)
    return {
        "chunks": chunks,
        "nodes": chunked.get("nodes", {}),
        "total_s": float(times["total"]),
        "client_wall_s": result["client_wall_s"],
        "encode_phase_s": float(times["encode"]),
        "trials_phase_s": float(times["trials"]),
        "serial_s": float(times["total"]) - float(times["encode"]) - float(times["trials"]),
        "trial_nodes": queue.get("trial_nodes", {}),
        "encode_sum_s": encode_sum,
        "longest_chunk_s": float(chunked["encode_s"]["max"]),
        "overhead_per_chunk_s": overhead,
        "queue_wait_per_chunk_s": float(queue["queue_s"]) / max(1, chunks),
        "duration_s": duration_s,
        "output_size": result["output_size"],
        "vmaf": result.get("vmaf"),
    }


def projected(f: dict[str, Any], nodes: int, slots: int, scale: float) -> float:
    encodes = (f["encode_sum_s"] + f["chunks"] * f["overhead_per_chunk_s"]) * scale
    trials = f["trials_phase_s"] * slots * scale
    parallel = trials / (nodes * slots) + max(f["longest_chunk_s"], encodes / (nodes * slots))
    return f["serial_s"] * scale + parallel


def render(three: dict[str, Any], one: dict[str, Any], slots: int, command: str) -> str:
    rows = []
    for name, f in (("3 nodes", three), ("1 node", one)):
        rows.append(
            [
                name,
                str(f["chunks"]),
                ", ".join(f"{n}: {c}" for n, c in sorted(f["nodes"].items())),
                ", ".join(f"{n}: {c}" for n, c in sorted(f["trial_nodes"].items())),
                f"{f['client_wall_s']:.1f}",
                f"{f['trials_phase_s']:.1f}",
                f"{f['encode_phase_s']:.1f}",
                f"{f['serial_s']:.1f}",
                f"{f['encode_sum_s'] / max(1, f['chunks']):.2f}",
                f"{f['longest_chunk_s']:.2f}",
                f"{f['overhead_per_chunk_s'] * 1000:.0f}",
                f"{f['queue_wait_per_chunk_s']:.2f}",
            ]
        )
    measured = table(
        [
            "run", "chunks", "chunks per node", "trials per node", "wall s", "trials s",
            "encode phase s", "serial s",
            "mean chunk encode s", "longest chunk s", "store+fetch ms/chunk",
            "queue wait s/chunk",
        ],
        rows,
    )  # fmt: skip
    hour = HOUR_S / one["duration_s"]
    proj = [
        [
            str(n),
            f"{projected(one, n, slots, 1.0):.1f}",
            f"{projected(one, n, slots, hour) / 60:.1f}",
            f"{one['serial_s'] * hour / 60:.1f}",
        ]
        for n in NODES
    ]
    projection = table(
        ["nodes", "this clip: wall s", "1 h of it: wall min", "of which serial min"], proj
    )
    ratio = (one["encode_phase_s"] + one["trials_phase_s"]) / max(
        0.01, three["encode_phase_s"] + three["trials_phase_s"]
    )
    return "\n".join(
        [
            stamp(command),
            "",
            f"Clip: {three['duration_s']:.1f} s, {three['chunks']} chunks; "
            f"{slots} chunk runs at once per node in the projection (this machine's "
            f"cores). Trials and encodes, 1 node over 3 nodes sharing the same cores in this run: "
            f"{ratio:.2f}×.",
            "",
            measured,
            projection,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    slots = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-cluster-chunks-") as tmp:
        work = Path(tmp)
        clip = multi_scene_clip(work / "shots.mkv", shots=args.shots, size=args.size)
        duration = SCENE_S * args.shots
        cluster = LocalCluster.up(work / "cluster", 3)
        try:
            three = figures(run_job(cluster, "127.0.7.1", clip), duration)
            for node in cluster.state["nodes"][1:]:
                pid = node["pid"]
                cluster.kill(node["name"], signal.SIGTERM)
                wait_until(lambda pid=pid: not alive(pid), 30)
            time.sleep(3)  # the balancer's checks take them out
            one = figures(run_job(cluster, "127.0.7.2", clip), duration)
        finally:
            cluster.down()
    command = "python -m bench.cluster_chunks " + " ".join(argv or sys.argv[1:])
    text = render(three, one, slots, command.strip())
    print(text)
    if args.write:
        write_section("cluster_chunks", "Chunks over the cluster (issue 19)", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
