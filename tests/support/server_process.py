"""A real `vcs-serve` in a subprocess on loopback, as tests and benchmarks use it."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.client.address import ServerAddress


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10) -> bool:
    """Poll `predicate` until it holds or `timeout_s` passes; its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@dataclass
class ServerProcess:
    storage_dir: Path
    args: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0
    # The raw upload port (docs/protocol.md); 0 picks a free one, so parallel servers never clash.
    raw_port: int = 0
    # Where /metrics and /health answer, when the server was started with --metrics.
    metrics_port: int | None = None
    proc: subprocess.Popen[str] | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=400))

    @property
    def address(self) -> ServerAddress:
        return ServerAddress(self.host, self.port)

    @property
    def raw_address(self) -> ServerAddress:
        return ServerAddress(self.host, self.raw_port)

    def start(self, timeout_s: float = 30) -> ServerProcess:
        argv = [
            sys.executable,
            "-m",
            "app.server.cli",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--raw-port",
            str(self.raw_port),
            "--storage-dir",
            str(self.storage_dir),
            *self.args,
        ]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        ready = threading.Event()
        found: list[str] = []
        raw_found: list[str] = []

        def read_stdout() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.append(line)
                # The raw line comes first; the MMP line means ready.
                if line.startswith("vcs-serve metrics on http://"):
                    self.metrics_port = int(line.rsplit(":", 1)[1])
                if line.startswith("vcs-serve raw listening on ") and not raw_found:
                    raw_found.append(line.rsplit(":", 1)[1].strip())
                if line.startswith("vcs-serve listening on ") and not found:
                    found.append(line.rsplit(" ", 1)[1].strip())
                    ready.set()
            ready.set()

        def read_stderr() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        if not ready.wait(timeout_s) or not found:
            self.stop()
            raise RuntimeError("vcs-serve did not start:\n" + "".join(self.log))
        _host, _, port = found[0].rpartition(":")
        self.port = int(port)
        if raw_found:
            self.raw_port = int(raw_found[0])
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def files(self) -> list[Path]:
        """Every file the blob store holds in storage: uploads, results, raw files, and
        their partial files (the job store, jobs.sqlite3, is in none of these)."""
        return sorted(
            p
            for sub in ("uploads", "results", "raw")
            if (self.storage_dir / sub).exists()
            for p in (self.storage_dir / sub).iterdir()
        )

    def job_rows(self) -> list[tuple[str, str]]:
        """(id, state) of every job row in the server's job store (SQLite, read-only;
        uploads in progress included, as `uploading`)."""
        db = self.storage_dir / "jobs.sqlite3"
        if not db.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT id, state FROM vcs_jobs ORDER BY created_at")
            return [(str(job_id), str(state)) for job_id, state in rows]

    def raw_upload_rows(self) -> list[str]:
        """Keys of the raw uploads the job store holds (arriving or stored)."""
        db = self.storage_dir / "jobs.sqlite3"
        if not db.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return [str(key) for (key,) in conn.execute("SELECT key FROM vcs_raw_uploads")]

    def job_row(self, job_id: str) -> dict[str, object] | None:
        """The job's state and progress as its row says, whoever owns the job (a job made
        over an encrypted session is not shown to another client's `status`)."""
        db = self.storage_dir / "jobs.sqlite3"
        if not db.exists():
            return None
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT state, progress FROM vcs_jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else {"state": str(row[0]), "progress": float(row[1])}


def kill_with_children(server: ServerProcess) -> None:
    """SIGKILL the server; its FFmpeg children die with it, as in a crash of the machine."""
    assert server.proc is not None
    pid = server.proc.pid
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    server.stop(signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
