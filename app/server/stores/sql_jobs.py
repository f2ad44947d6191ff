"""Every job transition as one short transaction, for SQLite and PostgreSQL alike.

The SQL is written once with `%s` placeholders; a `Database` (sqlite_jobs.py,
postgres_jobs.py) runs it in a worker thread and says how its engine spells the
few things that differ (the clock, row locks, NOTIFY). Methods are async: each runs
its transaction under the store's CapacityLimiter, then wakes local waiters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import trio

from app.protocol.errors import ErrorCode, ErrorInfo
from app.server.stores.job_store import (
    MAX_ATTEMPTS,
    AddressBusy,
    AdmissionCaps,
    ChangeBoard,
    FinishedResult,
    JobRecord,
    JobState,
    NetworkBusy,
    NewJob,
    QueueFull,
    QuotaFull,
    Task,
    TransitionRefused,
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

    def transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor in a new transaction: committed on a clean exit, else rolled back.
        Raises StoreUnavailable when the engine cannot be reached."""

    def notify(self, cur: Cursor, channel: str, payload: str) -> None:
        """Tell other nodes, on commit (a no-op where there are none)."""

    def is_unique_violation(self, exc: BaseException) -> bool: ...

    def close(self) -> None: ...


def _record(row: Sequence[Any]) -> JobRecord:
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


class SqlJobStore:
    """The job store over a `Database`; `node` names this server in the rows it owns."""

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

    def _tx(self) -> AbstractContextManager[Cursor]:
        return self.db.transaction()

    # --- reads ----------------------------------------------------------------------

    def _select(self, cur: Cursor, job_id: str, lock: bool = False) -> JobRecord | None:
        suffix = self.db.for_update if lock else ""
        cur.execute(f"SELECT {JOB_COLUMNS} FROM vcs_jobs WHERE id = %s{suffix}", (job_id,))
        row = cur.fetchone()
        return _record(row) if row is not None else None

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
                return [_record(row) for row in cur.fetchall()]

        return await self._run(read)

    async def quota(self) -> tuple[int, int]:
        """(used, limit) bytes, cluster-wide."""

        def read() -> tuple[int, int]:
            with self._tx() as cur:
                cur.execute("SELECT used_bytes, limit_bytes FROM vcs_quota WHERE id = 1")
                used, limit = cur.fetchone()
                return int(used), int(limit)

        return await self._run(read)

    async def uploading_keys(self) -> set[str]:
        def read() -> set[str]:
            with self._tx() as cur:
                cur.execute("SELECT input_key FROM vcs_jobs WHERE state = 'uploading'")
                return {row[0] for row in cur.fetchall()}

        return await self._run(read)

    # --- quota ----------------------------------------------------------------------

    def _reserve(self, cur: Cursor, size: int, address: str, must_fit: int | None = None) -> None:
        """Hold `size` more bytes; `must_fit` (≥ size) bytes must fit in the store and in
        the address's share (an upload must fit whole, but holds what has arrived)."""
        need = size if must_fit is None else must_fit
        cur.execute("SELECT per_address_bytes FROM vcs_quota WHERE id = 1")
        per_address = int(cur.fetchone()[0])
        if per_address:
            cur.execute(
                "SELECT COALESCE(SUM(input_reserved + result_reserved), 0) FROM vcs_jobs "
                "WHERE client_ip = %s",
                (address,),
            )
            held = int(cur.fetchone()[0])
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

    # --- transitions ----------------------------------------------------------------

    async def accept_upload(
        self, job: NewJob, held: int | None = None, caps: AdmissionCaps | None = None
    ) -> None:
        """uploading: the address's claim and the input's quota, before any payload byte.
        The whole declared size must fit; `held` bytes (default: all) are reserved now,
        more with `grow_upload` as they arrive. Raises QueueFull, NetworkBusy,
        AddressBusy or QuotaFull, and then nothing was written."""
        caps = caps or AdmissionCaps()
        network = job.network or job.client_ip

        def write() -> None:
            try:
                with self._tx() as cur:
                    self._check_caps(cur, caps, network)
                    cur.execute(
                        "INSERT INTO vcs_jobs (id, op, params, client_ip, network, owner, "
                        "filename, input_key, input_size, input_media_type, state, phase, "
                        "created_at, updated_at, input_reserved, node) VALUES (%s, %s, %s, "
                        "%s, %s, %s, %s, %s, %s, %s, 'uploading', 'uploading', "
                        f"{self.db.now}, {self.db.now}, %s, %s)",
                        (
                            job.id, job.op, json.dumps(job.params), job.client_ip, network,
                            job.owner, job.filename, job.input_key, job.input_size,
                            job.input_media_type, 0, self.node,
                        ),
                    )  # fmt: skip
                    reserve = job.input_size if held is None else min(held, job.input_size)
                    self._reserve(cur, reserve, job.client_ip, must_fit=job.input_size)
                    cur.execute(
                        "UPDATE vcs_jobs SET input_reserved = %s WHERE id = %s", (reserve, job.id)
                    )
            except Exception as exc:
                if self.db.is_unique_violation(exc):
                    raise AddressBusy(job.client_ip) from None
                raise

        await self._run(write)

    def _check_caps(self, cur: Cursor, caps: AdmissionCaps, network: str) -> None:
        if caps.max_queued_jobs:
            cur.execute("SELECT count(*) FROM vcs_jobs WHERE state IN ('uploading', 'queued')")
            waiting = int(cur.fetchone()[0])
            if waiting >= caps.max_queued_jobs:
                raise QueueFull(waiting)
        if caps.max_jobs_per_network:
            cur.execute(
                "SELECT count(*) FROM vcs_jobs WHERE network = %s "
                "AND state IN ('uploading', 'queued', 'running')",
                (network,),
            )
            active = int(cur.fetchone()[0])
            if active >= caps.max_jobs_per_network:
                raise NetworkBusy(network, active)

    async def grow_upload(self, job_id: str, held: int) -> None:
        """An upload in progress holds `held` bytes now (what arrived plus a headroom);
        QuotaFull if they do not fit (the upload must stop and be discarded)."""

        def write() -> None:
            with self._tx() as cur:
                old = self._select(cur, job_id, lock=True)
                if old is None or old.state is not JobState.UPLOADING:
                    raise TransitionRefused(job_id)
                want = min(held, old.input_size)
                if want > old.input_reserved:
                    self._reserve(cur, want - old.input_reserved, old.client_ip)
                    cur.execute(
                        "UPDATE vcs_jobs SET input_reserved = %s WHERE id = %s", (want, job_id)
                    )

        await self._run(write)

    async def upload_stored(self, job_id: str) -> None:
        """uploading → queued: the payload is stored (and held whole); the job joins the
        work queue."""

        def write() -> None:
            with self._tx() as cur:
                old = self._select(cur, job_id, lock=True)
                if old is None or old.state is not JobState.UPLOADING:
                    raise TransitionRefused(job_id)
                # The bytes are stored: held exactly, whatever headroom was left.
                self._release(cur, old.input_reserved - old.input_size)
                cur.execute(
                    "UPDATE vcs_jobs SET state = 'queued', phase = 'queued', "
                    f"input_reserved = input_size, updated_at = {self.db.now} WHERE id = %s",
                    (job_id,),
                )
                cur.execute(
                    "INSERT INTO vcs_tasks (job_id, task_no, kind, state, queued_at) "
                    f"VALUES (%s, 0, 'job', 'queued', {self.db.now})",
                    (job_id,),
                )
                self.db.notify(cur, WORK_CHANNEL, job_id)

        await self._run(write)
        self.board.work_queued()

    async def discard_upload(self, job_id: str) -> None:
        """An upload that did not complete: its row goes, its claim and quota with it."""

        def write() -> None:
            with self._tx() as cur:
                cur.execute(
                    "DELETE FROM vcs_jobs WHERE id = %s AND state = 'uploading' "
                    "RETURNING input_reserved",
                    (job_id,),
                )
                row = cur.fetchone()
                if row is not None:
                    self._release(cur, int(row[0]))

        with trio.CancelScope(shield=True):  # cleanup: must run even when cancelled
            await self._run(write)

    async def claim_task(self, lease_s: float) -> Task | None:
        """Take the oldest queued task (one no other node holds) with a lease; a job's
        task 0 starts the job. None when the queue is empty."""

        def write() -> Task | None:
            with self._tx() as cur:
                cur.execute(
                    "SELECT job_id, task_no FROM vcs_tasks WHERE state = 'queued' "
                    f"ORDER BY queued_at, task_no LIMIT 1{self.db.skip_locked}"
                )
                row = cur.fetchone()
                if row is None:
                    return None
                job_id, task_no = row
                cur.execute(
                    f"UPDATE vcs_tasks SET state = 'running', node = %s, "
                    f"lease_until = {self.db.now} + %s, attempts = attempts + 1 "
                    "WHERE job_id = %s AND task_no = %s RETURNING kind, spec, attempts",
                    (self.node, lease_s, job_id, task_no),
                )
                kind, spec, attempts = cur.fetchone()
                if kind == "job":
                    cur.execute(
                        "UPDATE vcs_jobs SET state = 'running', phase = 'starting', "
                        f"progress = 0, eta_s = NULL, node = %s, attempts = %s, "
                        f"updated_at = {self.db.now} WHERE id = %s",
                        (self.node, attempts, job_id),
                    )
                self.db.notify(cur, JOB_CHANNEL, job_id)
                return Task(job_id, int(task_no), kind, json.loads(spec), int(attempts))

        task = await self._run(write)
        if task is not None:
            self.board.job_changed(task.job_id)
        return task

    async def renew_lease(
        self,
        task: Task,
        lease_s: float,
        progress: tuple[float, float | None, str] | None = None,
    ) -> bool:
        """Extend our lease (and record the job's progress, eta and phase); False when the
        task is no longer ours: cancelled, or lost to another node after a stall."""

        def write() -> bool:
            with self._tx() as cur:
                cur.execute(
                    f"UPDATE vcs_tasks SET lease_until = {self.db.now} + %s WHERE job_id = %s "
                    "AND task_no = %s AND node = %s AND state = 'running' AND attempts = %s",
                    (lease_s, task.job_id, task.task_no, self.node, task.attempt),
                )
                if cur.rowcount == 0:
                    return False
                if progress is not None:
                    fraction, eta_s, phase = progress
                    cur.execute(
                        "UPDATE vcs_jobs SET progress = %s, eta_s = %s, phase = %s, "
                        f"updated_at = {self.db.now} WHERE id = %s AND state = 'running'",
                        (fraction, eta_s, phase, task.job_id),
                    )
                    self.db.notify(cur, JOB_CHANNEL, task.job_id)
                return True

        ours = await self._run(write)
        if progress is not None:
            self.board.job_changed(task.job_id)
        return ours

    def _owns(self, cur: Cursor, task: Task) -> bool:
        cur.execute(
            "SELECT 1 FROM vcs_tasks WHERE job_id = %s AND task_no = %s AND node = %s "
            f"AND state = 'running' AND attempts = %s{self.db.for_update}",
            (task.job_id, task.task_no, self.node, task.attempt),
        )
        return cur.fetchone() is not None

    async def reserve_result(self, task: Task, size: int) -> None:
        """Quota for the result FFmpeg may write (QuotaFull if there is none);
        TransitionRefused if the task is no longer ours."""

        def write() -> None:
            with self._tx() as cur:
                old = self._select(cur, task.job_id)
                if old is None or not self._owns(cur, task):
                    raise TransitionRefused(task.job_id)
                self._reserve(cur, size, old.client_ip)
                cur.execute(
                    "UPDATE vcs_jobs SET result_reserved = result_reserved + %s WHERE id = %s",
                    (size, task.job_id),
                )

        await self._run(write)

    async def finish_job(self, task: Task, result: FinishedResult) -> None:
        """running → done: the result is stored; the input's quota goes, the result keeps
        its real size. TransitionRefused if the task is no longer ours (the caller then
        deletes the result it made)."""

        def write() -> None:
            with self._tx() as cur:
                old = self._select(cur, task.job_id, lock=True)
                if old is None or not self._owns(cur, task):
                    raise TransitionRefused(task.job_id)
                # The result may be the input itself (a stream copy reusing it): one blob.
                self._release(cur, old.input_reserved + old.result_reserved - result.size)
                cur.execute(
                    "UPDATE vcs_jobs SET state = 'done', phase = 'done', progress = 1, "
                    "eta_s = 0, result_key = %s, result_media_type = %s, result_size = %s, "
                    "result_sha256 = %s, report = %s, input_reserved = 0, "
                    f"result_reserved = %s, finished_at = {self.db.now}, "
                    f"updated_at = {self.db.now} WHERE id = %s",
                    (
                        result.key, result.media_type, result.size, result.sha256,
                        json.dumps(result.report), result.size, task.job_id,
                    ),
                )  # fmt: skip
                cur.execute("DELETE FROM vcs_tasks WHERE job_id = %s", (task.job_id,))
                self.db.notify(cur, JOB_CHANNEL, task.job_id)

        await self._run(write)
        self.board.job_changed(task.job_id)

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

    async def fail_job(self, task: Task, error: ErrorInfo) -> JobRecord:
        """running → failed (FFmpeg refused the file, a timeout...); the old record, whose
        input the caller deletes. TransitionRefused if the task is no longer ours."""

        def write() -> JobRecord:
            with self._tx() as cur:
                old = self._select(cur, task.job_id, lock=True)
                if old is None or not self._owns(cur, task):
                    raise TransitionRefused(task.job_id)
                self._end(cur, old, JobState.FAILED, error)
                return old

        old = await self._run(write)
        self.board.job_changed(task.job_id)
        return old

    async def cancel_job(self, job_id: str) -> JobRecord:
        """→ cancelled, from queued or running (its node sees the lease go and stops) or
        from done (the result is discarded now). The old record: the caller deletes its
        blobs. TransitionRefused (with the old record) if it had already ended."""

        def write() -> JobRecord:
            with self._tx() as cur:
                old = self._select(cur, job_id, lock=True)
                if old is None or old.state is JobState.UPLOADING:
                    raise KeyError(job_id)
                if old.state in (JobState.FAILED, JobState.CANCELLED) or old.downloaded:
                    raise TransitionRefused(old)
                self._end(cur, old, JobState.CANCELLED, None)
                self.db.notify(cur, CANCEL_CHANNEL, job_id)
                return old

        old = await self._run(write)
        self.board.job_cancelled(job_id)
        return old

    async def mark_downloaded(self, job_id: str) -> JobRecord:
        """done → downloaded: the result's quota goes; the old record names the blob to
        delete. TransitionRefused if another download (or a cancel) got there first."""

        def write() -> JobRecord:
            with self._tx() as cur:
                old = self._select(cur, job_id, lock=True)
                if old is None or old.state is not JobState.DONE or old.downloaded:
                    raise TransitionRefused(job_id)
                self._release(cur, old.result_reserved)
                cur.execute(
                    "UPDATE vcs_jobs SET downloaded = 1, result_key = NULL, result_reserved = 0, "
                    f"updated_at = {self.db.now} WHERE id = %s",
                    (job_id,),
                )
                self.db.notify(cur, JOB_CHANNEL, job_id)
                return old

        old = await self._run(write)
        self.board.job_changed(job_id)
        return old

    async def expire_finished(self, retention_s: float, batch: int = 200) -> list[JobRecord]:
        """Ended jobs past the retention time leave the store (SPEC §3); the records, whose
        blobs the caller deletes. Nodes sweeping at once each take different rows."""

        def write() -> list[JobRecord]:
            with self._tx() as cur:
                cur.execute(
                    f"SELECT id FROM vcs_jobs WHERE state IN ('done', 'failed', 'cancelled') "
                    f"AND finished_at < {self.db.now} - %s "
                    f"ORDER BY finished_at LIMIT %s{self.db.skip_locked}",
                    (retention_s, batch),
                )
                ids = [row[0] for row in cur.fetchall()]
                return self._delete_jobs(cur, ids)

        return await self._run(write)

    def _delete_jobs(self, cur: Cursor, ids: list[str]) -> list[JobRecord]:
        gone = []
        for job_id in ids:
            cur.execute(f"DELETE FROM vcs_jobs WHERE id = %s RETURNING {JOB_COLUMNS}", (job_id,))
            row = cur.fetchone()
            if row is not None:
                record = _record(row)
                self._release(cur, record.input_reserved + record.result_reserved)
                gone.append(record)
        return gone

    async def requeue_lost_tasks(self, max_attempts: int = MAX_ATTEMPTS) -> list[JobRecord]:
        """Tasks whose lease ran out (their node died or stalled) go back to the queue;
        a job that lost its task `max_attempts` times fails instead. The failed jobs'
        records, whose inputs the caller deletes."""

        def write() -> tuple[list[str], list[JobRecord]]:
            with self._tx() as cur:
                cur.execute(
                    "SELECT job_id, task_no, attempts FROM vcs_tasks WHERE state = 'running' "
                    f"AND lease_until < {self.db.now}{self.db.skip_locked}"
                )
                return self._requeue(cur, cur.fetchall(), max_attempts, None)

        requeued, failed = await self._run(write)
        self._wake(requeued, failed)
        return failed

    def _requeue(
        self, cur: Cursor, lost: list[Any], max_attempts: int, error: ErrorInfo | None
    ) -> tuple[list[str], list[JobRecord]]:
        requeued: list[str] = []
        failed: list[JobRecord] = []
        for job_id, task_no, attempts in lost:
            old = self._select(cur, job_id, lock=True)
            if old is None:
                continue
            if error is not None or attempts >= max_attempts:
                self._end(cur, old, JobState.FAILED, error or retries_exhausted(attempts))
                failed.append(old)
                continue
            log.warning("job %s lost its node (run %d); queued again", job_id, attempts)
            cur.execute(
                "UPDATE vcs_tasks SET state = 'queued', node = NULL, lease_until = NULL "
                "WHERE job_id = %s AND task_no = %s",
                (job_id, task_no),
            )
            # The lost run's result reservation goes; the next run reserves its own.
            self._release(cur, old.result_reserved)
            cur.execute(
                "UPDATE vcs_jobs SET state = 'queued', phase = 'queued again', progress = 0, "
                f"eta_s = NULL, result_reserved = 0, updated_at = {self.db.now} "
                "WHERE id = %s AND state = 'running'",
                (job_id,),
            )
            self.db.notify(cur, JOB_CHANNEL, job_id)
            requeued.append(job_id)
        if requeued:
            self.db.notify(cur, WORK_CHANNEL, "")
        return requeued, failed

    def _wake(self, requeued: list[str], failed: list[JobRecord]) -> None:
        for job_id in [*requeued, *(r.id for r in failed)]:
            self.board.job_changed(job_id)
        if requeued:
            self.board.work_queued()

    async def restart_sweep(self, requeue: bool) -> tuple[list[JobRecord], list[JobRecord]]:
        """At start: this node's interrupted uploads go; its running tasks are queued
        again (cluster: another run counts as an attempt) or, with one node, fail as
        `server_restarted` along with the queued ones. (discarded uploads, failed jobs)."""

        def write() -> tuple[list[JobRecord], list[JobRecord], list[str]]:
            with self._tx() as cur:
                cur.execute(
                    "SELECT id FROM vcs_jobs WHERE state = 'uploading' AND node = %s",
                    (self.node,),
                )
                uploads = self._delete_jobs(cur, [row[0] for row in cur.fetchall()])
                if requeue:
                    cur.execute(
                        "SELECT job_id, task_no, attempts FROM vcs_tasks "
                        f"WHERE state = 'running' AND node = %s{self.db.for_update}",
                        (self.node,),
                    )
                    requeued, failed = self._requeue(cur, cur.fetchall(), MAX_ATTEMPTS, None)
                else:
                    cur.execute(
                        "SELECT id, 0, attempts FROM vcs_jobs WHERE state IN ('queued', 'running')"
                    )
                    requeued, failed = self._requeue(
                        cur, cur.fetchall(), MAX_ATTEMPTS, server_restarted()
                    )
                return uploads, failed, requeued

        uploads, failed, requeued = await self._run(write)
        self._wake(requeued, failed)
        return uploads, failed

    async def heartbeat(self) -> None:
        """This node is alive (its uploads are not reaped)."""

        def write() -> None:
            with self._tx() as cur:
                cur.execute(
                    f"INSERT INTO vcs_nodes (name, seen_at) VALUES (%s, {self.db.now}) "
                    "ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at",
                    (self.node,),
                )

        await self._run(write)

    async def reap_dead_uploads(self, silent_s: float) -> list[JobRecord]:
        """Uploads held by nodes silent for `silent_s` (killed mid-upload) go, with their
        claims and quota; the records, whose partial blobs the caller aborts."""

        def write() -> list[JobRecord]:
            with self._tx() as cur:
                cur.execute(
                    "SELECT j.id FROM vcs_jobs j LEFT JOIN vcs_nodes n ON n.name = j.node "
                    f"WHERE j.state = 'uploading' AND (n.seen_at IS NULL "
                    f"OR n.seen_at < {self.db.now} - %s)",
                    (silent_s,),
                )
                return self._delete_jobs(cur, [row[0] for row in cur.fetchall()])

        return await self._run(write)

    def close(self) -> None:
        self.db.close()
