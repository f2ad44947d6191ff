"""deploy/haproxy.cfg rewritten for nodes on local ports (tests and bench/balancer.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.server_process import ServerProcess

DEPLOY_CFG = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_haproxy_config(path: Path, nodes: list[ServerProcess], check_ms: int = 1000) -> int:
    """Our deploy config with its frontend on a free port and these nodes as the backend."""
    port = free_port()
    lines = [
        line.replace("bind 127.0.0.1:9000", f"bind 127.0.0.1:{port}")
        for line in DEPLOY_CFG.read_text().splitlines()
        if not line.strip().startswith("server n")
    ]
    lines += [
        f"    server n{i} 127.0.0.1:{node.port} send-proxy-v2 check inter {check_ms}ms"
        " fall 2 rise 2"
        for i, node in enumerate(nodes, 1)
    ]
    path.write_text("\n".join(lines) + "\n")
    return port
