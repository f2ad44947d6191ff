"""What every job store transaction stands on: the engine's connections and spelling,
rows read back as records, and the quota held in the same transaction as the change.

The SQL is written once with `%s` placeholders; a `Database` (sqlite_jobs.py,
postgres_jobs.py) runs it in a worker thread and says how its engine spells the few
things that differ (the clock, row locks, NOTIFY). The transitions themselves live in
sql_jobs.py (jobs and the work queue), sql_sweeps.py (what runs on a timer or at
start) and sql_raw.py (raw uploads).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import trio

from app.protocol.errors import ErrorCode, ErrorInfo
from app.server.stores.job_store import (
    ChangeBoard,
    JobRecord,
    JobState,
    QuotaFull,
    error_from_text,
    error_to_text,
)
from app.server.stores.sql_schema import JOB_COLUMNS

log = logging.getLogger(__name__)
T = TypeVar("T")

# A transaction that lost a deadlock or serialization conflict is run again, whole.
CONFLICT_RETRIES = 3

WORK_CHANNEL = "vcs_work"
JOB_CHANNEL = "vcs_job"
CANCEL_CHANNEL = "vcs_cancel"


class Conflict(Exception):
    """The engine rolled the transaction back to resolve a conflict (a deadlock between
    two nodes' transactions): running it again is safe and usually succeeds."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database(Protocol):
    """One engine's connections and spelling."""

    now: str  # SQL for "seconds since the epoch, now", from the database's clock
    skip_locked: str  # appended to a SELECT that claims rows other nodes may claim too
    for_update: str  # appended to a SELECT of a row this transaction will change
    shared: bool  # several nodes use it (a cluster): their work moves between them

    def transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor in a new transaction: committed on a clean exit, else rolled back.
        Raises StoreUnavailable when the engine cannot be reached."""

    def notify(self, cur: Cursor, channel: str, payload: str) -> None:
        """Tell other nodes, on commit (a no-op where there are none)."""

    def is_unique_violation(self, exc: BaseException) -> bool: ...

    @property
    def description(self) -> str:
        """Where the store is, for the start-up log (never a password)."""

    def close(self) -> None: ...


def record_of(row: Sequence[Any]) -> JobRecord:
    (
        id_, op, params, client_ip, owner, filename, input_key, input_size, input_media_type,
        state, phase, progress, eta_s, error, result_key, result_media_type, result_size,
        result_sha256, report, created_at, finished_at, downloaded, input_reserved,
        result_reserved, node, attempts,
    ) = row  # fmt: skip
    return JobRecord(
        id=id_,
        op=op,
        params=json.loads(params),
        client_ip=client_ip,
        owner=owner,
        filename=filename,
        input_key=input_key,
        input_size=int(input_size),
        input_media_type=input_media_type,
        state=JobState(state),
        phase=phase,
        progress=float(progress),
        eta_s=None if eta_s is None else float(eta_s),
        error=error_from_text(error),
        result_key=result_key,
        result_media_type=result_media_type,
        result_size=None if result_size is None else int(result_size),
        result_sha256=result_sha256,
        report=json.loads(report),
        created_at=float(created_at),
        finished_at=None if finished_at is None else float(finished_at),
        downloaded=bool(downloaded),
        input_reserved=int(input_reserved),
        result_reserved=int(result_reserved),
        node=node,
        attempts=int(attempts),
    )


def retries_exhausted(attempts: int) -> ErrorInfo:
    return ErrorInfo(
        ErrorCode.RETRIES_EXHAUSTED,
        f"The job was started {attempts} times and each time the server running it "
        "stopped (crashed or was killed) before it finished; it is not tried again.",
        "The file may crash FFmpeg or exhaust a server: try a shorter or re-encoded "
        "copy, and report the job id to the operator.",
    )


def server_restarted() -> ErrorInfo:
    return ErrorInfo(
        ErrorCode.SERVER_RESTARTED,
        "The server restarted while this job was running.",
        "Upload the file again.",
    )


class SqlStoreCore:
    """The store over a `Database`; `node` names this server in the rows it owns."""

    def __init__(
        self,
        db: Database,
        node: str,
        limiter: trio.CapacityLimiter | None = None,
        board: ChangeBoard | None = None,
    ) -> None:
        self.db = db
        self.node = node
        self.board = board or ChangeBoard()
        self._limiter = limiter or trio.CapacityLimiter(4)

    async def _run(self, fn: Callable[[], T]) -> T:
        for attempt in range(CONFLICT_RETRIES):
            try:
                return await trio.to_thread.run_sync(fn, limiter=self._limiter)
            except Conflict:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                log.info("job store conflict; running the transaction again")
        raise AssertionError("unreachable")

    async def _cleanup(self, fn: Callable[[], T]) -> T:
        """A transaction that frees what an ending request held: it runs even when that
        request is being cancelled (the caller's cancellation waits for it)."""
        with trio.CancelScope(shield=True):
            result = await self._run(fn)
        return result

    def _tx(self) -> AbstractContextManager[Cursor]:
        return self.db.transaction()

    # --- reads ----------------------------------------------------------------------

    def _select(self, cur: Cursor, job_id: str, lock: bool = False) -> JobRecord | None:
        suffix = self.db.for_update if lock else ""
        cur.execute(f"SELECT {JOB_COLUMNS} FROM vcs_jobs WHERE id = %s{suffix}", (job_id,))
        row = cur.fetchone()
        return record_of(row) if row is not None else None

    async def get(self, job_id: str) -> JobRecord | None:
        def read() -> JobRecord | None:
            with self._tx() as cur:
                return self._select(cur, job_id)

        return await self._run(read)

    async def active_jobs(self) -> list[JobRecord]:
        def read() -> list[JobRecord]:
            with self._tx() as cur:
                cur.execute(
                    f"SELECT {JOB_COLUMNS} FROM vcs_jobs "
                    "WHERE state IN ('uploading', 'queued', 'running') ORDER BY created_at"
                )
                return [record_of(row) for row in cur.fetchall()]

        return await self._run(read)

    async def quota(self) -> tuple[int, int]:
        """(used, limit) bytes, cluster-wide."""

        def read() -> tuple[int, int]:
            with self._tx() as cur:
                cur.execute("SELECT used_bytes, limit_bytes FROM vcs_quota WHERE id = 1")
                used, limit = cur.fetchone()
                return int(used), int(limit)

        return await self._run(read)

    async def job_counts(self) -> Counter[tuple[str, str]]:
        """Jobs by (op, state), uploads in progress included (for the metrics)."""

        def read() -> Counter[tuple[str, str]]:
            with self._tx() as cur:
                cur.execute("SELECT op, state, count(*) FROM vcs_jobs GROUP BY op, state")
                return Counter({(op, state): int(n) for op, state, n in cur.fetchall()})

        return await self._run(read)

    # --- quota ----------------------------------------------------------------------

    def _reserve(self, cur: Cursor, size: int, address: str, must_fit: int | None = None) -> None:
        """Hold `size` more bytes; `must_fit` (≥ size) bytes must fit in the store and in
        the address's share (an upload must fit whole, but holds what has arrived)."""
        need = size if must_fit is None else must_fit
        # The quota row is locked first: reservations from every node take their turn,
        # so the address's sum read below includes every reservation committed before.
        cur.execute(f"SELECT per_address_bytes FROM vcs_quota WHERE id = 1{self.db.for_update}")
        per_address = int(cur.fetchone()[0])
        if per_address:
            held = self._held_by(cur, address)
            if held + need > per_address:
                raise QuotaFull(need, max(0, per_address - held), per_address, address)
        cur.execute(
            "UPDATE vcs_quota SET used_bytes = used_bytes + %s "
            "WHERE id = 1 AND used_bytes + %s <= limit_bytes",
            (size, need),
        )
        if cur.rowcount == 0:
            cur.execute("SELECT used_bytes, limit_bytes FROM vcs_quota WHERE id = 1")
            used, limit = cur.fetchone()
            raise QuotaFull(need, max(0, int(limit) - int(used)), int(limit))

    def _held_by(self, cur: Cursor, address: str) -> int:
        """Bytes the address holds: its jobs' inputs and results, and its raw uploads."""
        cur.execute(
            "SELECT COALESCE(SUM(input_reserved + result_reserved), 0) FROM vcs_jobs "
            "WHERE client_ip = %s",
            (address,),
        )
        jobs = int(cur.fetchone()[0])
        cur.execute(
            "SELECT COALESCE(SUM(reserved), 0) FROM vcs_raw_uploads WHERE client_ip = %s",
            (address,),
        )
        return jobs + int(cur.fetchone()[0])

    def _hold_existing(self, cur: Cursor, size: int) -> None:
        """Count bytes already stored (found at start), even past the limit."""
        if size:
            cur.execute("UPDATE vcs_quota SET used_bytes = used_bytes + %s WHERE id = 1", (size,))

    def _release(self, cur: Cursor, size: int) -> None:
        if size:
            cur.execute("UPDATE vcs_quota SET used_bytes = used_bytes - %s WHERE id = 1", (size,))

    async def set_quota_limit(self, limit_bytes: int, per_address_bytes: int = 0) -> None:
        """The cluster-wide quota (the last node started sets it: give all the same)."""

        def write() -> None:
            with self._tx() as cur:
                cur.execute(
                    "INSERT INTO vcs_quota (id, limit_bytes, used_bytes, per_address_bytes) "
                    "VALUES (1, %s, 0, %s) ON CONFLICT (id) DO UPDATE SET "
                    "limit_bytes = excluded.limit_bytes, "
                    "per_address_bytes = excluded.per_address_bytes",
                    (limit_bytes, per_address_bytes),
                )

        await self._run(write)

    # --- shared by the transitions that end a job -----------------------------------

    def _end(self, cur: Cursor, old: JobRecord, state: JobState, error: ErrorInfo | None) -> None:
        """An active job ends without a result: every reservation and its claim go."""
        self._release(cur, old.input_reserved + old.result_reserved)
        cur.execute(
            "UPDATE vcs_jobs SET state = %s, phase = %s, error = %s, eta_s = NULL, "
            "input_reserved = 0, result_reserved = 0, result_key = NULL, "
            f"finished_at = {self.db.now}, updated_at = {self.db.now} WHERE id = %s",
            (str(state), str(state), error_to_text(error), old.id),
        )
        cur.execute("DELETE FROM vcs_tasks WHERE job_id = %s", (old.id,))
        self.db.notify(cur, JOB_CHANNEL, old.id)

    def _delete_jobs(self, cur: Cursor, ids: list[str]) -> list[JobRecord]:
        gone = []
        for job_id in ids:
            cur.execute(f"DELETE FROM vcs_jobs WHERE id = %s RETURNING {JOB_COLUMNS}", (job_id,))
            row = cur.fetchone()
            if row is not None:
                record = record_of(row)
                self._release(cur, record.input_reserved + record.result_reserved)
                gone.append(record)
        return gone

    def close(self) -> None:
        self.db.close()
