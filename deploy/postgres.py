"""A private PostgreSQL cluster on loopback: the Debian package's initdb + postgres.

Data lives in a directory of its own (owned by `postgres` when we are root: the
server refuses to run as root), listens on 127.0.0.1 only, no Unix socket, trust
authentication for the one role `vcs` (nothing but loopback can reach it). Stopped
by PID: SIGINT is PostgreSQL's "fast" shutdown (abort transactions, checkpoint).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from deploy.processes import (
    EngineUnavailable,
    apt_install,
    free_port,
    is_root,
    log_tail,
    runs,
    spawn,
    stop_pid,
    wait_until,
)

DEBIAN_PACKAGE: Final = "postgresql-15"
ROLE: Final = "vcs"
DATABASE: Final = "vcs"
OS_USER: Final = "postgres"


def _version(bindir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (0,)


def postgres_bindir() -> Path | None:
    """The newest installed server's bin directory (Debian keeps them per version)."""
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").exists()]
    if found:
        return max(found, key=_version)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def ensure_postgres(install: bool = True) -> Path:
    """The server's bin directory, installing the Debian package first when allowed."""
    bindir = postgres_bindir()
    if bindir is None and install:
        apt_install(DEBIAN_PACKAGE)
        bindir = postgres_bindir()
    if bindir is None:
        raise EngineUnavailable(
            f"needs PostgreSQL (Debian, as root: apt-get install {DEBIAN_PACKAGE})"
        )
    if is_root():
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            raise EngineUnavailable(
                f"needs the {OS_USER!r} user that the PostgreSQL package creates"
            ) from None
    return bindir


@dataclass
class PostgresServer:
    """One private cluster: `create` makes it, `start`/`stop` run it, `dsn` reaches it."""

    root: Path
    bindir: Path
    port: int = 0
    pid: int | None = None
    durable: bool = True

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def _user(self) -> str | None:
        return OS_USER if is_root() else None

    @classmethod
    def create(
        cls, parent: Path | None = None, *, durable: bool = True, install: bool = True
    ) -> PostgresServer:
        """initdb a new cluster in a fresh directory (under /tmp when root: the postgres
        user must be able to reach it, which pytest's and most home directories deny)."""
        bindir = ensure_postgres(install)
        base = None if is_root() else parent
        root = Path(tempfile.mkdtemp(prefix="vcs-postgres-", dir=base))
        server = cls(root=root, bindir=bindir, durable=durable)
        if is_root():
            os.chown(root, pwd.getpwnam(OS_USER).pw_uid, pwd.getpwnam(OS_USER).pw_gid)
        argv = [
            str(bindir / "initdb"),
            "-D",
            str(server.data_dir),
            "-U",
            ROLE,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, user=server._user, timeout=300)
        if done.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise EngineUnavailable(f"PostgreSQL initdb failed: {done.stderr[-400:]}")
        return server

    def start(self, timeout_s: float = 60) -> PostgresServer:
        """Run the postmaster on loopback (the same port again after a restart). A first
        start whose picked port another program took meanwhile tries new ones."""
        first = not self.port
        for attempt in range(3):
            try:
                return self._start_once(timeout_s)
            except EngineUnavailable:
                if not first or attempt == 2 or "could not bind" not in self.log_tail():
                    raise
                self.port = 0
        raise AssertionError("unreachable")

    def _start_once(self, timeout_s: float) -> PostgresServer:
        self.port = self.port or free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "300",
            "shared_buffers": "64MB",
            # Tests on a shared machine: a crash of the OS would lose recent commits,
            # a crash of PostgreSQL (what the tests do) loses nothing.
            "fsync": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
        }
        argv = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        self.log_path.touch()
        if is_root():
            os.chown(self.log_path, pwd.getpwnam(OS_USER).pw_uid, -1)
        self.pid = spawn(argv, self.log_path, user=self._user)
        if not wait_until(self.accepts_connections, timeout_s, 0.1):
            self.stop()
            raise EngineUnavailable(
                f"PostgreSQL did not start on port {self.port}:\n{self.log_tail()}"
            )
        return self

    def accepts_connections(self) -> bool:
        if self.pid is None or not runs(self.pid, "postgres"):
            return False
        import psycopg

        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self, sig: int = signal.SIGINT) -> None:
        """Fast shutdown by default; SIGQUIT is an immediate one (crash recovery next)."""
        if self.pid is not None:
            stop_pid(self.pid, "postgres", sig, timeout_s=30)
            self.pid = None

    def restart(self) -> PostgresServer:
        self.stop()
        return self.start()

    def dsn(self, database: str = DATABASE) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database (one per test keeps tests apart); its DSN."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def log_tail(self) -> str:
        return log_tail(self.log_path)

    def remove(self) -> None:
        """Stop and delete the cluster's files."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
