"""`scripts/cluster`: a whole cluster on loopback — PostgreSQL, SeaweedFS, N vcs-serve
nodes sharing them, and HAProxy in front (docs/scale.md, docs/scale.md).

    scripts/cluster up --nodes 3 --dir DIR   # prints one JSON line, then returns
    scripts/cluster kill n2 --dir DIR        # SIGKILL one node
    scripts/cluster start n2 --dir DIR       # start it again (same ports)
    scripts/cluster down --dir DIR           # stop everything, by PID

Everything runs as daemons of their own; DIR/cluster.json records their PIDs and ports
(and DIR/s3.env, mode 0600, the S3 credentials), so later commands find them. A PID is
signalled only while it still runs the program recorded for it. Tests drive the same
code through `LocalCluster`.
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
from deploy.postgres import DATABASE, PostgresServer, postgres_bindir
from deploy.processes import EngineUnavailable, free_port, runs, spawn, stop_pid, wait_until
from deploy.seaweedfs import REGION, SeaweedServer

STATE_FILE: Final = "cluster.json"
NODE_MARKER: Final = "app.server.cli"
READY_RE: Final = re.compile(r"^vcs-serve listening on (\S+):(\d+)$", re.MULTILINE)
# The nodes' objects live under this prefix of the bucket.
BLOB_PREFIX: Final = "cluster"
REPO: Final = Path(__file__).resolve().parent.parent


class LocalCluster:
    """A cluster's processes, as recorded in DIR/cluster.json."""

    def __init__(self, directory: Path, state: dict[str, Any]) -> None:
        self.dir = directory
        self.state = state

    # ---- state on disk ---------------------------------------------------------

    @classmethod
    def load(cls, directory: Path) -> LocalCluster:
        try:
            state: dict[str, Any] = json.loads((directory / STATE_FILE).read_text())
        except FileNotFoundError:
            raise SystemExit(f"cluster: no cluster in {directory} (run `up` first)") from None
        return cls(directory, state)

    def save(self) -> None:
        path = self.dir / STATE_FILE
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.chmod(0o600)
        os.replace(tmp, path)

    # ---- start and stop ----------------------------------------------------------

    @classmethod
    def up(cls, directory: Path, nodes: int, task_lease: str = "30s") -> LocalCluster:
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / STATE_FILE).exists():
            raise SystemExit(f"cluster: {directory} already has a cluster (`down` it first)")
        cluster = cls(directory, {"nodes": [], "task_lease": task_lease})
        try:
            cluster._start_engines()
            for i in range(1, nodes + 1):
                name = f"n{i}"
                node = {"name": name, "port": free_port(), "health_port": free_port()}
                cluster.state["nodes"].append(node)
                cluster.start_node(name)
            config = directory / "haproxy.cfg"
            ports = [(n["port"], n["health_port"]) for n in cluster.state["nodes"]]
            port = write_haproxy_config(config, ports, check_ms=500)
            cluster.state["haproxy_pid"] = start_haproxy(config, port, directory / "haproxy.log")
            cluster.state["balancer"] = f"127.0.0.1:{port}"
            cluster.save()
        except BaseException:
            cluster.down()
            raise
        return cluster

    def _start_engines(self) -> None:
        postgres = PostgresServer.create(self.dir).start()
        self.state["postgres"] = {
            "dsn": postgres.dsn(),
            "pid": postgres.pid,
            "port": postgres.port,
            "root": str(postgres.root),
        }
        self.save()
        postgres.create_database(DATABASE)
        seaweed = SeaweedServer.create(self.dir).start()
        credentials = self.dir / "s3.env"
        self.state["s3"] = {
            "endpoint": seaweed.endpoint,
            "bucket": seaweed.bucket,
            "pid": seaweed.pid,
            "root": str(seaweed.root),
            "credentials": str(credentials),
        }
        env = {
            "AWS_ACCESS_KEY_ID": seaweed.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
            "AWS_ENDPOINT_URL": seaweed.endpoint,
            "AWS_REGION": REGION,
        }
        credentials.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        credentials.chmod(0o600)
        self.save()

    def s3_env(self) -> dict[str, str]:
        """The S3 credentials the nodes use (from DIR/s3.env)."""
        text = Path(self.state["s3"]["credentials"]).read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def node(self, name: str) -> dict[str, Any]:
        for node in self.state["nodes"]:
            if node["name"] == name:
                return node  # type: ignore[no-any-return]
        raise SystemExit(f"cluster: no node {name!r} in {self.dir}")

    def start_node(self, name: str) -> dict[str, Any]:
        """Start (or start again) one node on its recorded ports, and wait until ready."""
        node = self.node(name)
        if node.get("pid") and runs(node["pid"], NODE_MARKER):
            raise SystemExit(f"cluster: node {name} already runs")
        log = self.dir / f"{name}.log"
        seen = log.stat().st_size if log.exists() else 0
        argv = [
            sys.executable, "-m", NODE_MARKER,
            "--port", str(node["port"]),
            "--raw-port", "0",
            "--metrics", f"127.0.0.1:{node['health_port']}",
            "--node-id", name,
            "--storage-dir", str(self.dir / name),
            "--job-store", self.state["postgres"]["dsn"],
            "--blob-store", f"s3://{self.state['s3']['bucket']}/{BLOB_PREFIX}",
            "--task-lease", self.state["task_lease"],
            # One key for all nodes: clients pin the balancer's address (docs/security.md).
            "--key-file", str(self.dir / "cluster_key.pem"),
            "--proxy-protocol", "--trusted-proxy", "127.0.0.1",
            "--drain-timeout", "300",
        ]  # fmt: skip
        pid = spawn(argv, log, cwd=REPO, env=self.s3_env())
        node["pid"] = pid
        self.save()

        def new_log() -> str:
            with log.open("rb") as f:
                f.seek(seen)
                return f.read().decode(errors="replace")

        def ready() -> bool:
            if not runs(pid, NODE_MARKER):
                raise EngineUnavailable(f"node {name} exited: see {log}")
            return READY_RE.search(new_log()) is not None

        if not wait_until(ready, 60, 0.1):
            stop_pid(pid, NODE_MARKER)
            raise EngineUnavailable(f"node {name} did not start: see {log}")
        node["mmp"] = f"127.0.0.1:{node['port']}"
        node["log"] = str(log)
        self.save()
        return node

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        node = self.node(name)
        if node.get("pid") and runs(node["pid"], NODE_MARKER):
            os.kill(node["pid"], sig)
        if sig == signal.SIGKILL:
            node["pid"] = None
        self.save()

    def postgres(self) -> PostgresServer:
        """The cluster's PostgreSQL, to stop and start it (e.g. a restart test)."""
        found = self.state["postgres"]
        bindir = postgres_bindir()
        assert bindir is not None
        return PostgresServer(
            root=Path(found["root"]), bindir=bindir, port=found["port"], pid=found["pid"]
        )

    def restart_postgres(self) -> None:
        server = self.postgres()
        server.restart()
        self.state["postgres"]["pid"] = server.pid
        self.save()

    def down(self) -> None:
        """Stop all, newest first: balancer, nodes (SIGTERM), SeaweedFS, PostgreSQL."""
        state = self.state
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
        (self.dir / STATE_FILE).unlink(missing_ok=True)

    def summary(self) -> dict[str, Any]:
        """The one JSON line `up` prints (no secret in it)."""
        return {
            "balancer": self.state["balancer"],
            "nodes": [{k: n.get(k) for k in ("name", "pid", "mmp")} for n in self.state["nodes"]],
            "postgres": self.state["postgres"]["dsn"],
            "s3": {k: self.state["s3"][k] for k in ("endpoint", "bucket", "credentials")},
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start PostgreSQL, SeaweedFS, N nodes and HAProxy")
    p_up.add_argument("--nodes", type=int, default=3)
    p_up.add_argument("--task-lease", default="30s", help="the nodes' --task-lease (default 30s)")
    p_kill = sub.add_parser("kill", help="SIGKILL one node")
    p_kill.add_argument("name")
    p_start = sub.add_parser("start", help="start a stopped node again")
    p_start.add_argument("name")
    p_down = sub.add_parser("down", help="stop everything")
    for p in (p_up, p_kill, p_start, p_down):
        p.add_argument("--dir", type=Path, required=True, help="the cluster's state and logs")
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    try:
        if args.command == "up":
            if args.nodes < 1:
                parser.error("--nodes must be at least 1")
            started = time.monotonic()
            cluster = LocalCluster.up(directory, args.nodes, args.task_lease)
            print(json.dumps(cluster.summary()), flush=True)
            print(f"cluster: up in {time.monotonic() - started:.1f} s", file=sys.stderr)
        elif args.command == "kill":
            LocalCluster.load(directory).kill(args.name)
        elif args.command == "start":
            LocalCluster.load(directory).start_node(args.name)
        else:
            try:
                LocalCluster.load(directory).down()
            except SystemExit:
                return 0  # nothing to stop
    except EngineUnavailable as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
