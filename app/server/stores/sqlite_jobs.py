"""The embedded job store: one SQLite file in the storage directory (one node, the default).

WAL mode with `synchronous=FULL`: a job acknowledged to a client survives a crash
or a power cut, like the JSON records it replaces. One connection, used by one worker
thread at a time (the store's limiter holds one token), with `BEGIN IMMEDIATE` so a
transaction takes the write lock before it reads what it will change.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import trio

from app.server.stores.job_store import StoreUnavailable
from app.server.stores.sql_core import Cursor
from app.server.stores.sql_jobs import SqlJobStore
from app.server.stores.sql_schema import create_tables

DB_NAME: Final = "jobs.sqlite3"
# The WAL is cut back to this after a checkpoint (it would keep its largest size).
WAL_LIMIT_BYTES: Final = 4 * 1024 * 1024
# sqlite3.OperationalError messages that mean "not now" rather than a mistake of ours.
UNAVAILABLE: Final = ("database or disk is full", "disk I/O error", "database is locked")


class _Cursor:
    """sqlite3's cursor, taking the `%s` placeholders the shared SQL is written with."""

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._cur.execute(sql.replace("%s", "?"), tuple(params))

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()


class SqliteDatabase:
    now = "((julianday('now') - 2440587.5) * 86400.0)"
    skip_locked = ""  # one writer at a time: nothing to skip
    for_update = ""  # BEGIN IMMEDIATE already holds the write lock
    shared = False  # one node: nothing moves to another

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        with self.transaction() as cur:
            create_tables(cur)

    @property
    def description(self) -> str:
        return f"SQLite {self.path}"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield _Cursor(cur)
                except BaseException:
                    if self._conn.in_transaction:
                        cur.execute("ROLLBACK")
                    raise
                else:
                    cur.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if any(text in str(exc) for text in UNAVAILABLE):
                    raise StoreUnavailable(f"the job store cannot write: {exc}") from exc
                raise
            finally:
                cur.close()

    def notify(self, cur: Cursor, channel: str, payload: str) -> None:
        """One node: its own waiters are woken by the store after each commit."""

    def is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def close(self) -> None:
        self._conn.close()


def open_sqlite_store(storage_dir: Path, node: str = "local") -> SqlJobStore:
    """The store in `storage_dir` (made on first use: `is_new_store` tells beforehand)."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    return SqlJobStore(SqliteDatabase(storage_dir / DB_NAME), node, trio.CapacityLimiter(1))


def is_new_store(storage_dir: Path) -> bool:
    return not (storage_dir / DB_NAME).exists()
