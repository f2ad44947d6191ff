"""The files an operator installs: deploy/vcs-serve.service and deploy/serve.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.server.cli import build_parser, config_from_args
from app.server.config_file import parse_with_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTALLED_EXE = "/opt/vcs/.venv/bin/vcs-serve"


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    unit = (DEPLOY / "vcs-serve.service").read_text()
    assert INSTALLED_EXE in unit
    # verify also checks that ExecStart's program exists: point it at this checkout's
    # (the README installs the project to /opt/vcs). Every other line is checked as is.
    here = Path(sys.prefix) / "bin" / "vcs-serve"
    copy = tmp_path / "vcs-serve.service"
    copy.write_text(unit.replace(INSTALLED_EXE, str(here)))
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "vcs-serve.service" not in done.stderr, done.stderr


def test_the_unit_reloads_and_drains_as_documented() -> None:
    unit = (DEPLOY / "vcs-serve.service").read_text()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "--config /etc/vcs/serve.toml" in unit and "StateDirectory=vcs" in unit
    stop_s = int(unit.split("TimeoutStopSec=", 1)[1].split("min", 1)[0]) * 60
    config = example_config()
    assert stop_s > config.drain_timeout_s > 0


def example_config():  # type: ignore[no-untyped-def]
    args, _ = parse_with_config(build_parser(), ["--config", str(DEPLOY / "serve.toml")])
    return config_from_args(args)


def test_the_example_config_is_valid() -> None:
    config = example_config()
    assert config.quota_bytes == 500 * 10**9
    assert config.metrics_address == ("127.0.0.1", 9300)
