"""Admission as transactions: an upload's row, its address's claim and its quota.

Everything is settled before a payload byte is stored (docs/operations.md, "Limits and
defaults"): one active job per address (a unique index), the network's and the queue's
caps, the uploading key's own caps, the whole declared size against the quota. While
the payload arrives its hold grows; stored, the job joins the work queue; abandoned,
its row and hold go. Part of SqlJobStore (sql_jobs.py).
"""

from __future__ import annotations

import json

from app.server.stores.job_store import (
    AddressBusy,
    AdmissionCaps,
    JobState,
    KeyBusy,
    KeyQuotaFull,
    NetworkBusy,
    NewJob,
    OwnerCaps,
    QueueFull,
    TransitionRefused,
)
from app.server.stores.sql_core import WORK_CHANNEL, Cursor, SqlStoreCore


class SqlAdmission(SqlStoreCore):
    """Uploads from their first byte to the work queue."""

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
                    if caps.owner is not None and job.owner is not None:
                        self._check_owner(cur, caps.owner, job.owner, job.input_size)
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

    def _check_owner(self, cur: Cursor, caps: OwnerCaps, owner: str, size: int) -> None:
        """The key's own caps (docs/security.md, "Who may connect"): its active jobs, and
        what its jobs hold (an upload counts its whole declared size)."""
        cur.execute(
            "SELECT coalesce(sum(CASE WHEN state = 'done' THEN 0 ELSE 1 END), 0), "
            "coalesce(sum(CASE WHEN state = 'uploading' THEN input_size ELSE input_reserved "
            "END + result_reserved), 0) FROM vcs_jobs "
            "WHERE owner = %s AND state IN ('uploading', 'queued', 'running', 'done')",
            (owner,),
        )
        row = cur.fetchone()
        active, held = int(row[0]), int(row[1])
        if caps.max_jobs is not None and active >= caps.max_jobs:
            raise KeyBusy(caps.name or owner, active)
        if caps.quota_bytes is not None and held + size > caps.quota_bytes:
            raise KeyQuotaFull(caps.name or owner, held, size, caps.quota_bytes)

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

        await self._cleanup(write)
