"""Aggregate upload throughput through HAProxy (3 nodes) vs straight to the nodes.

    .venv/bin/python -m bench.balancer [--clients 12] [--size-mib 64] [--write]

Loopback only; needs haproxy (Debian: apt-get install haproxy).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from app.client.address import ServerAddress
from bench.net import MiB, fmt_rate, hash_file, make_payload, timed_upload
from bench.report import stamp, table, write_section
from tests.balancer_config import write_haproxy_config
from tests.server_process import ServerProcess


def start_haproxy(work: Path, nodes: list[ServerProcess]) -> tuple[subprocess.Popen[bytes], int]:
    cfg = work / "haproxy.cfg"
    port = write_haproxy_config(cfg, nodes)
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return proc, port


def aggregate(targets: list[ServerAddress], payload: Path, clients: int) -> float:
    """Bytes/s of `clients` simultaneous sha256-checked uploads, client i to targets[i % len]."""
    sha = hash_file(payload)  # once, before the clock

    async def run() -> float:
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for i in range(clients):
                address = targets[i % len(targets)]
                nursery.start_soon(timed_upload, address, payload, f"127.0.3.{i + 1}", sha)
        return time.perf_counter() - start

    return clients * payload.stat().st_size / trio.run(run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if shutil.which("haproxy") is None:
        print("bench.balancer: needs haproxy (apt-get install haproxy)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="vcs-bench-lb-"))
    nodes: list[ServerProcess] = []
    haproxy = None
    try:
        payload = work / "payload.bin"
        make_payload(payload, args.size_mib * MiB)
        trusted = (
            "--proxy-protocol",
            "--trusted-proxy",
            "127.0.0.1",
            "--max-jobs-per-network",
            "0",
        )
        nodes = [
            ServerProcess(work / f"n{i}", ("--node-id", f"n{i}", *trusted)).start()
            for i in (1, 2, 3)
        ]
        haproxy, port = start_haproxy(work, nodes)
        direct = aggregate([n.address for n in nodes], payload, args.clients)
        balanced = aggregate([ServerAddress("127.0.0.1", port)], payload, args.clients)
        rows = [
            ["direct to 3 nodes", fmt_rate(direct), ""],
            ["through HAProxy (send-proxy-v2)", fmt_rate(balanced), f"{balanced / direct:.2f}×"],
        ]
        text = table(["path", f"aggregate, {args.clients} uploads", "vs direct"], rows)
        print(text)
        if args.write:
            write_section(
                "balancer",
                "Through the balancer (issue 10)",
                stamp("python -m bench.balancer --write")
                + f"\n{args.clients} simultaneous uploads of {args.size_mib} MiB from "
                "distinct loopback addresses, sha256-verified, to 3 nodes on one "
                "machine (the nodes, HAProxy and the clients share its cores).\n\n" + text,
            )
    finally:
        if haproxy is not None:
            haproxy.send_signal(signal.SIGTERM)
            haproxy.wait()
        for node in nodes:
            node.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
