"""HAProxy in front of local nodes: deploy/haproxy.cfg with its ports rewritten."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from typing import Final

from deploy.processes import (
    EngineUnavailable,
    apt_install,
    free_port,
    port_open,
    spawn,
    stop_pid,
    wait_until,
)

DEPLOY_CFG: Final = Path(__file__).resolve().parent / "haproxy.cfg"


def haproxy_binary(install: bool = True) -> Path:
    for candidate in (shutil.which("haproxy"), "/usr/sbin/haproxy"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    if install:
        apt_install("haproxy")
        return haproxy_binary(install=False)
    raise EngineUnavailable("needs haproxy (Debian, as root: apt-get install haproxy)")


def write_haproxy_config(
    path: Path, nodes: list[tuple[int, int]], check_ms: int = 1000, port: int = 0
) -> int:
    """Our deploy config with its frontend on a free port (or `port`) and these nodes as
    the backend, (MMP port, health port) each: sent PROXY v2, checked on their
    `--metrics` /health (a draining node answers 503 and gets no new clients). The
    frontend's port."""
    port = port or free_port()
    lines = [
        line.replace("bind 127.0.0.1:9000", f"bind 127.0.0.1:{port}")
        for line in DEPLOY_CFG.read_text().splitlines()
        if not line.strip().startswith("server n")
    ]
    lines += [
        f"    server n{i} 127.0.0.1:{node_port} send-proxy-v2 check port {health_port} "
        f"inter {check_ms}ms fall 2 rise 2"
        for i, (node_port, health_port) in enumerate(nodes, 1)
    ]
    path.write_text("\n".join(lines) + "\n")
    return port


def start_haproxy(config: Path, port: int, log_path: Path, install: bool = True) -> int:
    """Run HAProxy in the foreground mode (-db) as a daemon of ours; its PID."""
    pid = spawn([str(haproxy_binary(install)), "-db", "-f", str(config)], log_path)
    if not wait_until(lambda: port_open(port), 15):
        stop_haproxy(pid)
        raise EngineUnavailable(f"haproxy did not listen on {port}: see {log_path}")
    return pid


def stop_haproxy(pid: int) -> None:
    stop_pid(pid, "haproxy", signal.SIGTERM, timeout_s=10)
