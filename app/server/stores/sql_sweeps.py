"""The job store's sweeps: what runs at start or on a timer rather than for a request.

Expiry of ended jobs (docs/operations.md retention), tasks whose lease ran out (their node died:
queued again, bounded), a restarted node's own leftovers, uploads held by nodes that
stopped beating, the keys every row still owns (for sweeps of orphaned blobs), and
jobs imported from before the store.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from app.protocol.errors import ErrorInfo
from app.server.stores.blob_store import job_of_chunk, job_of_result
from app.server.stores.job_store import MAX_ATTEMPTS, JobRecord, JobState, error_to_text
from app.server.stores.sql_core import (
    JOB_CHANNEL,
    WORK_CHANNEL,
    Cursor,
    SqlStoreCore,
    retries_exhausted,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OwnedKeys:
    """Blob keys rows still need: any other key under uploads/, results/ or raw/ is an
    orphan. Results of jobs still running may not be recorded yet: their job ids. The
    chunks of a job are its own while it is queued or running: those job ids."""

    keys: frozenset[str]
    running_jobs: frozenset[str]
    unfinished_jobs: frozenset[str] = frozenset()

    def owns(self, key: str) -> bool:
        return (
            key in self.keys
            or job_of_result(key) in self.running_jobs
            or job_of_chunk(key) in self.unfinished_jobs
        )


@dataclass(frozen=True, slots=True)
class RestartSweep:
    """What a restarted node left: uploads it was receiving (their rows are gone), jobs
    that failed with it (stopped too often), raw uploads it was receiving (keys), and
    the jobs now waiting in the queue (ids), those it was running among them."""

    discarded: list[JobRecord]
    failed: list[JobRecord]
    raw_discarded: list[str]
    waiting: list[str]


class SqlSweeps(SqlStoreCore):
    async def expire_finished(self, retention_s: float, batch: int = 200) -> list[JobRecord]:
        """Ended jobs past the retention time leave the store (docs/operations.md); the
        records, whose blobs the caller deletes. Nodes sweeping at once each take different rows."""

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

    async def requeue_lost_tasks(self, max_attempts: int = MAX_ATTEMPTS) -> list[JobRecord]:
        """Tasks whose lease ran out (their node died or stalled) go back to the queue;
        a job that lost its task `max_attempts` times fails instead. The failed jobs'
        records, whose inputs the caller deletes."""

        def write() -> tuple[list[str], list[JobRecord]]:
            with self._tx() as cur:
                # Task and job locked together, skipping pairs others hold (a cancel):
                # this sweep never waits, so it never deadlocks.
                cur.execute(
                    "SELECT t.job_id, t.task_no, t.attempts FROM vcs_tasks t JOIN vcs_jobs j "
                    "ON j.id = t.job_id WHERE t.state = 'running' "
                    f"AND t.lease_until < {self.db.now}{self.db.skip_locked}"
                )
                return self._requeue(cur, cur.fetchall(), max_attempts, None)

        requeued, failed = await self._run(write)
        self._wake(requeued, failed)
        return failed

    def _requeue(
        self, cur: Cursor, lost: list[Any], max_attempts: int, error: ErrorInfo | None
    ) -> tuple[list[str], list[JobRecord]]:
        """Lost tasks back to the queue. Task 0 is the job's own run: the job is queued
        again with it. Another task (a chunk) only goes back to the queue: its job runs
        on. A task lost `max_attempts` times fails its job."""
        requeued: list[str] = []
        failed: list[JobRecord] = []
        for job_id, task_no, attempts in lost:
            old = self._select(cur, job_id, lock=True)
            if old is None or old.state.finished:
                continue
            if error is not None or attempts >= max_attempts:
                self._end(cur, old, JobState.FAILED, error or retries_exhausted(attempts))
                failed.append(old)
                continue
            log.warning(
                "job %s lost its node (task %d, run %d); queued again", job_id, task_no, attempts
            )
            cur.execute(
                "UPDATE vcs_tasks SET state = 'queued', node = NULL, lease_until = NULL "
                "WHERE job_id = %s AND task_no = %s",
                (job_id, task_no),
            )
            if int(task_no) == 0:
                # The lost run's result reservation goes; the next run reserves its own.
                self._release(cur, old.result_reserved)
                cur.execute(
                    "UPDATE vcs_jobs SET state = 'queued', phase = 'queued again', "
                    f"progress = 0, eta_s = NULL, result_reserved = 0, "
                    f"updated_at = {self.db.now} WHERE id = %s AND state = 'running'",
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

    async def restart_sweep(self, requeue: bool) -> RestartSweep:
        """At start: this node's interrupted uploads go; its running tasks are queued
        again, another run counting as an attempt (a job that stopped its server
        MAX_ATTEMPTS times fails instead). Alone (`requeue` False), every row is this
        node's whatever --node-id it had, and the queued jobs wait for it as they were.
        `resumed`: the jobs left waiting, whose work directories (chunks) a node alone
        keeps for them."""

        # Alone, every row is this node's, whatever name it had before.
        ours, params = ("node = %s", (self.node,)) if requeue else ("1 = 1", ())

        def write() -> tuple[RestartSweep, list[str]]:
            with self._tx() as cur:
                cur.execute(f"SELECT id FROM vcs_jobs WHERE state = 'uploading' AND {ours}", params)
                uploads = self._delete_jobs(cur, [row[0] for row in cur.fetchall()])
                raw = self._delete_raw_uploads(cur, ours, params)
                cur.execute(
                    "SELECT job_id, task_no, attempts FROM vcs_tasks "
                    f"WHERE state = 'running' AND {ours}{self.db.for_update}",
                    params,
                )
                requeued, failed = self._requeue(cur, cur.fetchall(), MAX_ATTEMPTS, None)
                cur.execute("SELECT id FROM vcs_jobs WHERE state = 'queued'")
                waiting = sorted(str(row[0]) for row in cur.fetchall())
                return RestartSweep(uploads, failed, raw, waiting), requeued

        sweep, requeued = await self._run(write)
        self._wake(requeued, sweep.failed)
        return sweep

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

    async def reap_dead_uploads(self, silent_s: float) -> tuple[list[JobRecord], list[str]]:
        """Uploads held by nodes silent for `silent_s` (killed mid-upload) go, with their
        claims and quota: the job records and raw keys, whose partial blobs the caller
        aborts."""
        silent = f"node NOT IN (SELECT name FROM vcs_nodes WHERE seen_at >= {self.db.now} - %s)"

        def write() -> tuple[list[JobRecord], list[str]]:
            with self._tx() as cur:
                cur.execute(
                    f"SELECT id FROM vcs_jobs WHERE state = 'uploading' AND {silent}",
                    (silent_s,),
                )
                jobs = self._delete_jobs(cur, [row[0] for row in cur.fetchall()])
                return jobs, self._delete_raw_uploads(cur, silent, (silent_s,))

        return await self._run(write)

    def _delete_raw_uploads(self, cur: Cursor, where: str, params: tuple[Any, ...]) -> list[str]:
        """Raw uploads in progress matching `where` go, with their quota; their keys."""
        cur.execute(
            f"DELETE FROM vcs_raw_uploads WHERE state = 'uploading' AND {where} "
            "RETURNING key, reserved",
            params,
        )
        rows = cur.fetchall()
        self._release(cur, sum(int(reserved) for _, reserved in rows))
        return [key for key, _ in rows]

    async def uploading_keys(self) -> set[str]:
        """Keys of every upload in progress, on any node (jobs' inputs and raw files)."""

        def read() -> set[str]:
            with self._tx() as cur:
                cur.execute("SELECT input_key FROM vcs_jobs WHERE state = 'uploading'")
                keys = {row[0] for row in cur.fetchall()}
                cur.execute("SELECT key FROM vcs_raw_uploads WHERE state = 'uploading'")
                return keys | {row[0] for row in cur.fetchall()}

        return await self._run(read)

    async def owned_keys(self) -> OwnedKeys:
        """What the rows still need (read after listing the blobs a sweep looks at)."""

        def read() -> OwnedKeys:
            with self._tx() as cur:
                cur.execute(
                    "SELECT input_key FROM vcs_jobs "
                    "WHERE state IN ('uploading', 'queued', 'running') "
                    "UNION SELECT result_key FROM vcs_jobs "
                    "WHERE state = 'done' AND result_key IS NOT NULL "
                    "UNION SELECT key FROM vcs_raw_uploads"
                )
                keys = frozenset(row[0] for row in cur.fetchall())
                cur.execute("SELECT id, state FROM vcs_jobs WHERE state IN ('queued', 'running')")
                rows = cur.fetchall()
                running = frozenset(job_id for job_id, state in rows if state == "running")
                return OwnedKeys(keys, running, frozenset(job_id for job_id, _ in rows))

        return await self._run(read)

    async def import_job(self, record: JobRecord) -> bool:
        """A job kept from before the job store (the JSON index, legacy_index.py) or
        seeded by a test: its row as recorded, its bytes held again. False if the id
        is already there."""

        def write() -> bool:
            with self._tx() as cur:
                cur.execute(
                    "INSERT INTO vcs_jobs (id, op, params, client_ip, network, owner, filename, "
                    "input_key, input_size, input_media_type, state, phase, progress, error, "
                    "result_key, result_media_type, result_size, result_sha256, report, "
                    "created_at, updated_at, finished_at, downloaded, input_reserved, "
                    "result_reserved, node, attempts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s) ON CONFLICT (id) DO NOTHING",
                    (
                        record.id, record.op, json.dumps(record.params), record.client_ip,
                        record.client_ip, record.owner, record.filename, record.input_key,
                        record.input_size, record.input_media_type, str(record.state),
                        record.phase, record.progress, error_to_text(record.error),
                        record.result_key, record.result_media_type, record.result_size,
                        record.result_sha256, json.dumps(record.report), record.created_at,
                        record.created_at, record.finished_at, int(record.downloaded),
                        record.input_reserved, record.result_reserved, record.node,
                        record.attempts,
                    ),
                )  # fmt: skip
                if cur.rowcount == 0:
                    return False
                self._hold_existing(cur, record.input_reserved + record.result_reserved)
                return True

        return await self._run(write)
