"""`scripts/cluster`: a whole cluster on loopback — PostgreSQL, SeaweedFS, N vcs-serve
nodes and HAProxy in front (SPEC §7, docs/scale.md).

    scripts/cluster up --nodes 3 --dir DIR   # prints one JSON line, then returns
    scripts/cluster kill n2 --dir DIR        # SIGKILL one node
    scripts/cluster down --dir DIR           # stop everything, by PID

Everything runs as daemons of their own; DIR/cluster.json records their PIDs (and
DIR/s3.env, mode 0600, the S3 credentials), so `kill` and `down` find them later. A PID
is signalled only while it still runs the program recorded for it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Final

from deploy.balancer import start_haproxy, stop_haproxy, write_haproxy_config
from deploy.postgres import DATABASE, PostgresServer
from deploy.processes import EngineUnavailable, free_port, runs, spawn, stop_pid, wait_until
from deploy.seaweedfs import SeaweedServer

STATE_FILE: Final = "cluster.json"
NODE_MARKER: Final = "app.server.cli"
READY_RE: Final = re.compile(r"^vcs-serve listening on (\S+):(\d+)$", re.MULTILINE)


def _state_path(directory: Path) -> Path:
    return directory / STATE_FILE


def load_state(directory: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(_state_path(directory).read_text())
    except FileNotFoundError:
        raise SystemExit(f"cluster: no cluster in {directory} (run `up` first)") from None
    return state


def save_state(directory: Path, state: dict[str, Any]) -> None:
    path = _state_path(directory)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)
    os.replace(tmp, path)


def start_node(directory: Path, name: str, extra_env: dict[str, str]) -> dict[str, Any]:
    """One vcs-serve behind the balancer: PROXY v2 from loopback, the cluster's key."""
    log = directory / f"{name}.log"
    argv = [
        sys.executable,
        "-m",
        NODE_MARKER,
        "--port",
        str(free_port()),
        "--raw-port",
        "0",
        "--node-id",
        name,
        "--storage-dir",
        str(directory / name),
        # One key for all nodes: clients pin the balancer's address (docs/security.md).
        "--key-file",
        str(directory / "cluster_key.pem"),
        "--proxy-protocol",
        "--trusted-proxy",
        "127.0.0.1",
        "--drain-timeout",
        "300",
    ]
    pid = spawn(argv, log, cwd=Path(__file__).resolve().parent.parent, env=extra_env)

    def ready() -> bool:
        if not runs(pid, NODE_MARKER):
            raise EngineUnavailable(f"node {name} exited: see {log}")
        return READY_RE.search(log.read_text(errors="replace")) is not None

    if not wait_until(ready, 60, 0.1):
        stop_pid(pid, NODE_MARKER)
        raise EngineUnavailable(f"node {name} did not start: see {log}")
    found = READY_RE.search(log.read_text(errors="replace"))
    assert found is not None
    return {"name": name, "pid": pid, "mmp": f"{found[1]}:{found[2]}", "log": str(log)}


def up(directory: Path, nodes: int) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    if _state_path(directory).exists():
        raise SystemExit(f"cluster: {directory} already has a cluster (`down` it first)")
    state: dict[str, Any] = {"nodes": []}
    try:
        postgres = PostgresServer.create(directory).start()
        state["postgres"] = {"dsn": postgres.dsn(), "pid": postgres.pid, "root": str(postgres.root)}
        save_state(directory, state)
        postgres.create_database(DATABASE)
        seaweed = SeaweedServer.create(directory).start()
        state["s3"] = {
            "endpoint": seaweed.endpoint,
            "bucket": seaweed.bucket,
            "pid": seaweed.pid,
            "root": str(seaweed.root),
            "credentials": str(directory / "s3.env"),
        }
        env = {
            "AWS_ACCESS_KEY_ID": seaweed.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
            "AWS_ENDPOINT_URL": seaweed.endpoint,
            "AWS_REGION": "us-east-1",
        }
        credentials = directory / "s3.env"
        credentials.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        credentials.chmod(0o600)
        save_state(directory, state)
        for i in range(1, nodes + 1):
            state["nodes"].append(start_node(directory, f"n{i}", env))
            save_state(directory, state)
        config = directory / "haproxy.cfg"
        node_ports = [int(node["mmp"].rsplit(":", 1)[1]) for node in state["nodes"]]
        port = write_haproxy_config(config, node_ports, check_ms=500)
        state["haproxy_pid"] = start_haproxy(config, port, directory / "haproxy.log")
        state["balancer"] = f"127.0.0.1:{port}"
        save_state(directory, state)
    except BaseException:
        down(directory)
        raise
    return state


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """The one JSON line `up` prints (no secret in it)."""
    return {
        "balancer": state["balancer"],
        "nodes": [{k: n[k] for k in ("name", "pid", "mmp")} for n in state["nodes"]],
        "postgres": state["postgres"]["dsn"],
        "s3": {k: state["s3"][k] for k in ("endpoint", "bucket", "credentials")},
    }


def kill(directory: Path, name: str) -> None:
    state = load_state(directory)
    for node in state["nodes"]:
        if node["name"] == name:
            if node.get("pid") and runs(node["pid"], NODE_MARKER):
                os.kill(node["pid"], signal.SIGKILL)
            node["pid"] = None
            save_state(directory, state)
            return
    raise SystemExit(f"cluster: no node {name!r} in {directory}")


def down(directory: Path) -> None:
    """Stop all, newest first: balancer, nodes (SIGTERM), SeaweedFS, PostgreSQL."""
    try:
        state = load_state(directory)
    except SystemExit:
        return
    if state.get("haproxy_pid"):
        stop_haproxy(state["haproxy_pid"])
    for node in state.get("nodes", []):
        if node.get("pid"):
            stop_pid(node["pid"], NODE_MARKER, signal.SIGTERM, timeout_s=20)
    for engine, marker, sig in (
        ("s3", "weed", signal.SIGTERM),
        ("postgres", "postgres", signal.SIGINT),
    ):
        found = state.get(engine)
        if found and found.get("pid"):
            stop_pid(found["pid"], marker, sig, timeout_s=20)
        if found and found.get("root"):
            shutil.rmtree(found["root"], ignore_errors=True)
    _state_path(directory).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start PostgreSQL, SeaweedFS, N nodes and HAProxy")
    p_up.add_argument("--nodes", type=int, default=3)
    p_kill = sub.add_parser("kill", help="SIGKILL one node")
    p_kill.add_argument("name")
    p_down = sub.add_parser("down", help="stop everything")
    for p in (p_up, p_kill, p_down):
        p.add_argument("--dir", type=Path, required=True, help="the cluster's state and logs")
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    try:
        if args.command == "up":
            if args.nodes < 1:
                parser.error("--nodes must be at least 1")
            started = time.monotonic()
            state = up(directory, args.nodes)
            print(json.dumps(summary(state)), flush=True)
            print(f"cluster: up in {time.monotonic() - started:.1f} s", file=sys.stderr)
        elif args.command == "kill":
            kill(directory, args.name)
        else:
            down(directory)
    except EngineUnavailable as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
