"""Daemons this package starts: free loopback ports, start-up waits, stopping by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


class EngineUnavailable(RuntimeError):
    """An engine cannot be installed or started here; the message names it and why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout_s` passes; its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


def is_root() -> bool:
    return os.geteuid() == 0


def apt_install(*packages: str) -> None:
    """Install Debian packages when we are root with apt; else say what to install."""
    names = " ".join(packages)
    if not is_root() or shutil.which("apt-get") is None:
        raise EngineUnavailable(f"needs {names} (Debian, as root: apt-get install {names})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise EngineUnavailable(f"apt-get install {names} failed: {done.stderr[-400:]}")


def pip_install(package: str) -> None:
    """Install a PyPI package into the running interpreter's environment (.venv)."""
    argv = [sys.executable, "-m", "pip", "install", "--quiet", package]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise EngineUnavailable(f"pip install {package} failed: {done.stderr[-400:]}")


def spawn(
    argv: list[str],
    log_path: Path,
    *,
    user: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Start a daemon in its own session (it outlives `scripts/cluster up`); its PID."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    return proc.pid


def _stat(pid: int) -> tuple[str, str] | None:
    """(command name, state letter) from /proc, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    return name, stat.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    found = _stat(pid)
    return found is not None and found[1] != "Z"


def runs(pid: int, marker: str) -> bool:
    """PID is alive and is `marker` (its command name, or a word of its command line):
    a PID reused by another program is never ours."""
    found = _stat(pid)
    if found is None or found[1] == "Z":
        return False
    if found[0] == marker[:15]:  # the kernel keeps 15 characters of the name
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return marker.encode() in cmdline


def _reap(pid: int) -> None:
    """Collect our own child's exit status so that it does not stay a zombie."""
    # Not our child when an earlier `scripts/cluster up` started it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_pid(pid: int, marker: str, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
    """Send `sig` to PID (only if it still runs `marker`), then SIGKILL after `timeout_s`."""
    if not runs(pid, marker):
        _reap(pid)
        return
    os.kill(pid, sig)

    def gone() -> bool:
        _reap(pid)
        return not alive(pid)

    if not wait_until(gone, timeout_s) and runs(pid, marker):
        os.kill(pid, signal.SIGKILL)
        wait_until(gone, 10)


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a daemon's log, for the error that says it did not start."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
