"""deploy/haproxy.cfg rewritten for nodes on local ports (tests and bench/balancer.py)."""

from __future__ import annotations

from pathlib import Path

from deploy.balancer import write_haproxy_config as write_config_for_ports
from tests.support.server_process import ServerProcess


def write_haproxy_config(path: Path, nodes: list[ServerProcess], check_ms: int = 1000) -> int:
    """Our deploy config with its frontend on a free port and these nodes as the backend
    (each started with --metrics: the balancer checks its /health)."""
    ports = []
    for node in nodes:
        assert node.metrics_port is not None, "a node behind the balancer needs --metrics"
        ports.append((node.port, node.metrics_port))
    return write_config_for_ports(path, ports, check_ms)
