"""The cluster's job store: PostgreSQL, shared by every node (docs/scale.md).

psycopg 3 is synchronous: transactions run in worker threads (sql_jobs.py) on a small
pool of connections, one per limiter token. A connection that broke (PostgreSQL
restarted, a failover) is replaced on its next use; while none can be made, calls
raise StoreUnavailable and the node's loops retry, so nodes reconnect by themselves.

Other nodes' changes arrive by LISTEN/NOTIFY on one more connection (`listen`): a
status long poll answers as soon as the job changes wherever it runs, an idle worker
wakes when work is queued, and a cancel reaches the node running the job. Workers and
long polls also poll, so a lost notification only costs a few seconds.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import trio

from app.server.stores.job_store import ChangeBoard, StoreUnavailable
from app.server.stores.sql_core import (
    CANCEL_CHANNEL,
    JOB_CHANNEL,
    WORK_CHANNEL,
    Conflict,
    Cursor,
)
from app.server.stores.sql_jobs import SqlJobStore
from app.server.stores.sql_schema import create_tables

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S: Final = 5
POOL_SIZE: Final = 6
LISTEN_POLL_S: Final = 1.0
RECONNECT_S: Final = 1.0
# Two nodes creating the tables at once: one takes this lock, the other waits.
SCHEMA_LOCK: Final = 0x76637331


class PostgresDatabase:
    now = "extract(epoch from clock_timestamp())::float8"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    for_update = " FOR UPDATE"
    shared = True  # a cluster's nodes: a dead node's work moves to the others

    def __init__(self, dsn: str, pool_size: int = POOL_SIZE) -> None:
        self.dsn = dsn
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._pool_size = pool_size
        with self.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            create_tables(cur)

    @property
    def description(self) -> str:
        return f"PostgreSQL {redacted_dsn(self.dsn)}"

    def connect(self, autocommit: bool = False) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(
                self.dsn,
                connect_timeout=CONNECT_TIMEOUT_S,
                autocommit=autocommit,
                application_name="vcs-serve",
            )
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL is unreachable: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Cursor]:
        import psycopg

        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self.connect()
        if conn.closed or conn.broken:
            conn.close()
            conn = self.connect()
        healthy = False
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
            healthy = True
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
            raise Conflict(str(exc)) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL connection lost: {exc}") from exc
        finally:
            if healthy or (not conn.broken and not conn.closed):
                if self._idle.qsize() < self._pool_size:
                    self._idle.put(conn)
                else:
                    conn.close()
            else:
                conn.close()

    def notify(self, cur: Cursor, channel: str, payload: str) -> None:
        cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def is_unique_violation(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.errors.UniqueViolation)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def redacted_dsn(dsn: str) -> str:
    """The DSN without its password, for logs (passwords belong in PGPASSWORD or
    ~/.pgpass, libpq's own places, not on a command line)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        return "(unparsable DSN)"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def _dispatch(board: ChangeBoard, channel: str, payload: str) -> None:
    if channel == WORK_CHANNEL:
        board.work_queued()
    elif channel == CANCEL_CHANNEL:
        board.job_cancelled(payload)
    elif channel == JOB_CHANNEL:
        board.job_changed(payload)


async def listen(db: PostgresDatabase, board: ChangeBoard) -> None:
    """Feed other nodes' notifications to `board` until cancelled; reconnects after a
    lost connection (each reconnection wakes idle workers: they look at the queue)."""
    token = trio.lowlevel.current_trio_token()
    stopped = threading.Event()

    def run() -> None:
        import psycopg

        while not stopped.is_set():
            try:
                with db.connect(autocommit=True) as conn:
                    for channel in (WORK_CHANNEL, JOB_CHANNEL, CANCEL_CHANNEL):
                        conn.execute(f"LISTEN {channel}")
                    trio.from_thread.run_sync(board.work_queued, trio_token=token)
                    while not stopped.is_set():
                        for note in conn.notifies(timeout=LISTEN_POLL_S, stop_after=64):
                            trio.from_thread.run_sync(
                                _dispatch, board, note.channel, note.payload, trio_token=token
                            )
            except (StoreUnavailable, psycopg.OperationalError) as exc:
                log.warning("lost the PostgreSQL notification connection: %s", exc)
                stopped.wait(RECONNECT_S)
            except trio.RunFinishedError:
                return

    try:
        await trio.to_thread.run_sync(run, abandon_on_cancel=True)
    finally:
        stopped.set()


def open_postgres_store(dsn: str, node: str) -> SqlJobStore:
    return SqlJobStore(PostgresDatabase(dsn), node, trio.CapacityLimiter(POOL_SIZE))
