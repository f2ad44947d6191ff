"""Every job transition as one short transaction, for SQLite and PostgreSQL alike.

The work queue (claims with leases, renewals carrying progress, results, failures,
returns), cancels from any node, and downloads. Admission is in sql_admission.py,
what runs on a timer or at start in sql_sweeps.py,
raw uploads in sql_raw.py, the shared ground (engines, records, quota) in sql_core.py.
Methods are async: each runs its transaction under the store's CapacityLimiter, then
wakes local waiters.
"""

from __future__ import annotations

import json
from typing import Any

from app.protocol.errors import ErrorInfo
from app.server.stores.job_store import (
    FinishedResult,
    JobRecord,
    JobState,
    Task,
    TransitionRefused,
)
from app.server.stores.sql_admission import SqlAdmission
from app.server.stores.sql_core import (
    CANCEL_CHANNEL,
    JOB_CHANNEL,
    WORK_CHANNEL,
    Cursor,
)
from app.server.stores.sql_raw import SqlRawUploads
from app.server.stores.sql_sweeps import SqlSweeps


class SqlJobStore(SqlAdmission, SqlSweeps, SqlRawUploads):
    """The job store: one object per server, shared by its connections and workers."""

    # --- transitions ----------------------------------------------------------------

    async def claim_task(
        self, lease_s: float, kinds: tuple[str, ...] = (), job_id: str | None = None
    ) -> Task | None:
        """Take the oldest queued task (one no other node holds) of these kinds (all if
        none are named: a node claims only what it knows how to run), of one job if
        `job_id` is given, with a lease; a job's task 0 starts the job. None when the
        queue holds nothing for us."""
        only = f" AND t.kind IN ({', '.join(['%s'] * len(kinds))})" if kinds else ""
        params: tuple[str, ...] = kinds
        if job_id is not None:
            only += " AND t.job_id = %s AND j.state = 'running'"
            params = (*kinds, job_id)

        def write() -> Task | None:
            with self._tx() as cur:
                # The task and its job are locked together, skipping any pair another
                # transaction holds: a claim never waits, so it can never deadlock
                # with a cancel (which takes the job, then its tasks).
                cur.execute(
                    "SELECT t.job_id, t.task_no FROM vcs_tasks t JOIN vcs_jobs j ON "
                    f"j.id = t.job_id WHERE t.state = 'queued'{only} "
                    f"ORDER BY t.queued_at, t.task_no LIMIT 1{self.db.skip_locked}",
                    params,
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
                if progress is not None:
                    # The job before its task, as every transition takes them.
                    cur.execute(
                        f"SELECT 1 FROM vcs_jobs WHERE id = %s{self.db.for_update}",
                        (task.job_id,),
                    )
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

    def _our_job(self, cur: Cursor, task: Task) -> JobRecord:
        """The task's job, locked, while the task is still ours; else TransitionRefused."""
        old = self._select(cur, task.job_id, lock=True)
        if old is None or not self._owns(cur, task):
            raise TransitionRefused(task.job_id)
        return old

    async def reserve_result(self, task: Task, size: int) -> None:
        """Quota for the result FFmpeg may write (QuotaFull if there is none);
        TransitionRefused if the task is no longer ours."""

        def write() -> None:
            with self._tx() as cur:
                old = self._our_job(cur, task)
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
                old = self._our_job(cur, task)
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

    async def fail_job(
        self, task: Task, error: ErrorInfo, state: JobState = JobState.FAILED
    ) -> JobRecord:
        """running → failed (FFmpeg refused the file, a timeout...) or cancelled (the
        server stops); the old record, whose input the caller deletes.
        TransitionRefused if the task is no longer ours."""

        def write() -> JobRecord:
            with self._tx() as cur:
                old = self._our_job(cur, task)
                self._end(cur, old, state, error)
                return old

        old = await self._cleanup(write)
        self.board.job_changed(task.job_id)
        return old

    async def return_task(self, task: Task) -> None:
        """Our running task goes back to the queue at once, as if never claimed (this
        node stops cleanly: another one takes it now rather than when the lease ends)."""

        def write() -> None:
            with self._tx() as cur:
                old = self._select(cur, task.job_id, lock=True)
                if old is None or not self._owns(cur, task):
                    return
                cur.execute(
                    "UPDATE vcs_tasks SET state = 'queued', node = NULL, lease_until = NULL, "
                    "attempts = attempts - 1 WHERE job_id = %s AND task_no = %s",
                    (task.job_id, task.task_no),
                )
                if task.kind == "job":
                    self._release(cur, old.result_reserved)
                    cur.execute(
                        "UPDATE vcs_jobs SET state = 'queued', phase = 'queued', progress = 0, "
                        f"eta_s = NULL, result_reserved = 0, updated_at = {self.db.now} "
                        "WHERE id = %s",
                        (task.job_id,),
                    )
                self.db.notify(cur, JOB_CHANNEL, task.job_id)
                self.db.notify(cur, WORK_CHANNEL, task.job_id)

        await self._cleanup(write)
        self.board.job_changed(task.job_id)
        self.board.work_queued()

    async def queue_task(
        self, task: Task, kind: str, key: str, spec: dict[str, Any]
    ) -> tuple[int, bool]:
        """One more unit of work of our running job `task` (e.g. a chunk) that any node
        may claim, named by `key` (what its result depends on): a task with the same
        key, queued by an earlier run of the job, is not queued again. Its number (task
        0 is the job's own, queued by `upload_stored`) and whether it was there already.
        TransitionRefused if the job is no longer ours."""

        def write() -> tuple[int, bool]:
            with self._tx() as cur:
                self._our_job(cur, task)
                cur.execute(
                    "SELECT task_no, spec FROM vcs_tasks WHERE job_id = %s AND kind = %s",
                    (task.job_id, kind),
                )
                rows = cur.fetchall()
                for task_no, known in rows:
                    if json.loads(known).get("key") == key:
                        return int(task_no), True
                cur.execute(
                    "SELECT COALESCE(MAX(task_no), 0) + 1 FROM vcs_tasks WHERE job_id = %s",
                    (task.job_id,),
                )
                task_no = int(cur.fetchone()[0])
                cur.execute(
                    "INSERT INTO vcs_tasks (job_id, task_no, kind, spec, state, queued_at) "
                    f"VALUES (%s, %s, %s, %s, 'queued', {self.db.now})",
                    (task.job_id, task_no, kind, json.dumps({**spec, "key": key})),
                )
                self.db.notify(cur, WORK_CHANNEL, task.job_id)
                return task_no, False

        queued = await self._run(write)
        self.board.work_queued()
        return queued

    async def complete_task(self, task: Task, outcome: dict[str, Any]) -> None:
        """A task other than a job's own is done; its outcome stays for the job to read
        (`task_outcomes`). TransitionRefused if the task is no longer ours."""

        def write() -> None:
            with self._tx() as cur:
                if not self._owns(cur, task):
                    raise TransitionRefused(task.job_id)
                cur.execute(
                    "UPDATE vcs_tasks SET state = 'done', lease_until = NULL, outcome = %s "
                    "WHERE job_id = %s AND task_no = %s",
                    (json.dumps(outcome), task.job_id, task.task_no),
                )
                self.db.notify(cur, JOB_CHANNEL, task.job_id)

        await self._run(write)
        self.board.job_changed(task.job_id)

    async def task_outcomes(self, job_id: str) -> dict[int, dict[str, Any]]:
        """The outcomes of a job's finished tasks, by task number."""

        def read() -> dict[int, dict[str, Any]]:
            with self._tx() as cur:
                cur.execute(
                    "SELECT task_no, outcome FROM vcs_tasks "
                    "WHERE job_id = %s AND state = 'done' ORDER BY task_no",
                    (job_id,),
                )
                return {int(no): json.loads(outcome) for no, outcome in cur.fetchall()}

        return await self._run(read)

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
