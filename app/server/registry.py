"""Every job's life, in one owner: admission, runs, results, cancel, download, expiry.

No other module moves a job between states, takes or frees a client's job slot, or
holds or releases quota for a job: they call the transition named for what happened.
Each transition is one transaction of the job store (app/server/stores/), which is
the registry's memory: SQLite in the storage directory for one node, PostgreSQL for a
cluster, where every node sees every job. The registry adds what a transaction cannot
do: deleting the blobs a transition freed, counting metrics, and the error JSON.

    admit_upload ─ accept → queued ─ claim → running ─ complete → done
         │ (abandoned: nothing kept)      │              │ fail / cancel     │
         └── discarded                    └─ lost lease: queued again ─┘   │
    done ─ downloaded / cancel / expire → result deleted, its quota freed ──┘

Admission rules (docs/operations.md, "Limits and defaults"), all settled in one
transaction before a payload byte is stored: one job per client address (docs/operations.md),
at most `max_jobs_per_network` from one /24 (IPv4) or /64 (IPv6) block, at most
`max_queued_jobs` waiting in all, and the quota for the store and per address.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import trio

from app.protocol.errors import ErrorCode, ErrorInfo, VcsError
from app.server.job import JOB_ID_RE, full_report, job_not_found, new_job_id
from app.server.metrics import Metrics
from app.server.quota import UploadHold, quota_refusal
from app.server.refusals import answering_users
from app.server.stores.blob_store import (
    AREAS,
    BlobStore,
    input_key,
)
from app.server.stores.job_store import (
    AdmissionCaps,
    ChangeBoard,
    FinishedResult,
    JobRecord,
    JobState,
    NewJob,
    OwnerCaps,
    QuotaFull,
    StoreUnavailable,
    Task,
    TransitionRefused,
)
from app.server.stores.sql_jobs import SqlJobStore

log = logging.getLogger(__name__)
T = TypeVar("T")

NETWORK_PREFIX_V4: Final = 24
NETWORK_PREFIX_V6: Final = 64
# A transition that ends a run is tried again this long while the store is unreachable
# (PostgreSQL restarting); past that, the lease runs out and the job runs again.
END_RETRY_S: Final = 60.0
END_RETRY_STEP_S: Final = 1.0


def network_of(ip: str) -> str:
    """The address block a client is counted in (its /24 or /64)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = NETWORK_PREFIX_V4 if address.version == 4 else NETWORK_PREFIX_V6
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    max_queued_jobs: int = 0  # jobs waiting for an FFmpeg slot, in all; 0: no cap
    max_jobs_per_network: int = 0  # active jobs from one /24 or /64; 0: no cap


class Admission:
    """An upload let in: its row holds the address's slot and a growing quota hold.

    `accept` makes it a queued job once its payload is stored; left without that
    (refused, cut, cancelled), its blob and its row go.
    """

    def __init__(self, registry: JobRegistry, job: NewJob, hold: UploadHold) -> None:
        self._registry = registry
        self.job = job
        self.hold = hold
        self.accepted = False

    @property
    def job_id(self) -> str:
        return self.job.id

    @property
    def input_key(self) -> str:
        return self.job.input_key

    async def accept(self) -> None:
        """The payload is stored under `input_key`: the job joins the work queue."""
        with answering_users():
            await self._registry.store.upload_stored(self.job.id)
        self.accepted = True
        self._registry.metrics.count_job_accepted(self.job.op)


class RunLost(Exception):
    """The run is no longer this node's (cancelled anywhere, or taken over after a
    stall): it stops without a transition; whoever ended it cleaned up."""


@dataclass(eq=False)
class Run:
    """One claimed run of a job on this node: its task and the record it started from."""

    task: Task
    record: JobRecord
    ended: bool = False  # this node made the transition that ended it


class JobRegistry:
    """Every job, through the job store; the blobs each transition frees."""

    def __init__(
        self,
        store: SqlJobStore,
        blobs: BlobStore,
        node_id: str = "",
        rules: AdmissionRules | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.node_id = node_id
        self.rules = rules or AdmissionRules()
        self.metrics = metrics or Metrics()

    @property
    def board(self) -> ChangeBoard:
        return self.store.board

    @property
    def shared(self) -> bool:
        """A cluster's store: other nodes take over this node's work."""
        return self.store.db.shared

    # ---- admission -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def admit_upload(
        self,
        ip: str,
        declared_size: int,
        *,
        op: str,
        params: dict[str, Any],
        filename: str,
        media_type: str,
        owner: str | None = None,
        owner_limits: OwnerCaps | None = None,
    ) -> AsyncIterator[Admission]:
        """Settle the admission rules and the quota before any payload byte is stored.
        `owner`: the client key making the job over an encrypted session, with its own
        caps from the authorized-keys file."""
        job_id = new_job_id(self.node_id)
        job = NewJob(
            id=job_id,
            op=op,
            params=params,
            client_ip=ip,
            filename=filename,
            input_key=input_key(job_id),
            input_size=declared_size,
            input_media_type=media_type,
            owner=owner,
            network=network_of(ip),
        )
        hold = UploadHold(declared_size, functools.partial(self.store.grow_upload, job_id))
        caps = AdmissionCaps(
            self.rules.max_queued_jobs, self.rules.max_jobs_per_network, owner_limits
        )
        with answering_users():
            await self.store.accept_upload(job, held=hold.held, caps=caps)
        admission = Admission(self, job, hold)
        try:
            async with hold.kept():
                yield admission
        finally:
            if not admission.accepted:
                with trio.CancelScope(shield=True):
                    await self._forget_upload(job)

    async def _forget_upload(self, job: NewJob) -> None:
        # The blob first: a crash between the two leaves a row the restart sweep ends.
        await self._delete(job.input_key)
        try:
            await self.store.discard_upload(job.id)
        except StoreUnavailable as exc:
            # The row stays `uploading` until this node restarts or is reaped as silent.
            log.warning("cannot discard upload %s now: %s", job.id, exc)

    # ---- lookup ----------------------------------------------------------------

    async def get(self, job_id: object, owner: str | None = None) -> JobRecord:
        """The job's record, from whichever node accepted it, as the client `owner` (its
        key over an encrypted session, None in plaintext) may see it: another key's job
        is not found, exactly as an id that does not exist (docs/security.md)."""
        if not isinstance(job_id, str) or JOB_ID_RE.fullmatch(job_id) is None:
            raise job_not_found()
        with answering_users():
            record = await self.store.get(job_id)
        if record is None or record.state is JobState.UPLOADING:
            raise job_not_found()
        if record.owner is not None and record.owner != owner:
            raise job_not_found()
        return record

    # ---- runs ------------------------------------------------------------------

    async def claim(self, lease_s: float, kinds: tuple[str, ...]) -> Run | None:
        """The oldest queued task of these kinds, with a lease; None if there is none."""
        task = await self.store.claim_task(lease_s, kinds)
        if task is None:
            return None
        record = await self.store.get(task.job_id)
        if record is None:  # expired between the two reads: nothing to run
            return None
        return Run(task, record)

    async def renew(
        self, run: Run, lease_s: float, progress: tuple[float, float | None, str]
    ) -> bool:
        """Extend the run's lease with its progress; False when the run is no longer
        ours (cancelled anywhere, or lost to another node after a stall)."""
        return await self.store.renew_lease(run.task, lease_s, progress)

    async def reserve_result(self, run: Run, allowance: int) -> int:
        """Hold the result's allowance before FFmpeg starts; returns the bytes allowed."""
        reserve = functools.partial(self.store.reserve_result, run.task, allowance)
        try:
            await self._until_reachable(reserve)
        except QuotaFull as full:
            raise quota_refusal(full) from None
        except TransitionRefused:
            raise RunLost(run.task.job_id) from None
        return allowance

    async def complete(
        self,
        run: Run,
        result_key: str,
        media_type: str,
        size: int,
        sha256: str,
        op_report: dict[str, Any],
    ) -> None:
        """running → done: the result is stored under `result_key`; the input goes."""
        report = full_report(run.record.input_size, size, op_report)
        result = FinishedResult(result_key, media_type, size, sha256, report)
        try:
            await self._until_reachable(functools.partial(self.store.finish_job, run.task, result))
        except TransitionRefused:
            # Cancelled or taken over meanwhile: the result is nobody's.
            await self._delete(result_key)
            return
        run.ended = True
        await self._delete(run.record.input_key)
        self.metrics.count_job_finished(run.record.op, str(JobState.DONE))

    async def fail(self, run: Run, error: ErrorInfo, state: JobState = JobState.FAILED) -> None:
        """running → failed (or cancelled, when the server stops); the input goes."""
        try:
            old = await self._until_reachable(
                functools.partial(self.store.fail_job, run.task, error, state)
            )
        except TransitionRefused:
            return  # cancelled or taken over meanwhile: the job is not ours to end
        run.ended = True
        await self._delete(old.input_key)
        self.metrics.count_job_finished(old.op, str(state))

    async def give_back(self, run: Run) -> None:
        """This node stops: its run goes back to the queue for another node, at once."""
        await self._until_reachable(functools.partial(self.store.return_task, run.task))
        run.ended = True

    async def _until_reachable(self, transition: Callable[[], Awaitable[T]]) -> T:
        """Run an end-of-run transition, waiting out a store that is briefly unreachable."""
        with trio.move_on_after(END_RETRY_S):
            while True:
                try:
                    return await transition()
                except StoreUnavailable as exc:
                    log.warning("job store unreachable, trying again: %s", exc)
                await trio.sleep(END_RETRY_STEP_S)
        return await transition()  # the last try: its StoreUnavailable goes to the caller

    # ---- requests on finished jobs ---------------------------------------------

    async def cancel(self, job_id: object, owner: str | None = None) -> JobRecord:
        """The owner's `cancel`: a result is discarded now, a queued or running job stops
        (on whichever node runs it)."""
        await self.get(job_id, owner)
        assert isinstance(job_id, str)
        try:
            with answering_users():
                old = await self.store.cancel_job(job_id)
        except KeyError:
            raise job_not_found() from None
        except TransitionRefused:
            raise VcsError(
                ErrorCode.JOB_FINISHED,
                "The job already ended; there is nothing to cancel.",
                "No action needed.",
            ) from None
        await self._delete(old.input_key, old.result_key)
        if not old.state.finished:
            self.metrics.count_job_finished(old.op, str(JobState.CANCELLED))
        return old

    async def downloaded(self, record: JobRecord) -> None:
        """The whole result went out: it is deleted now (docs/operations.md)."""
        try:
            with answering_users():
                old = await self.store.mark_downloaded(record.id)
        except TransitionRefused:
            return  # another download or a cancel got there first and deleted it
        await self._delete(old.result_key)

    # ---- sweeps ----------------------------------------------------------------

    async def expire(self, retention_s: float) -> int:
        """Results and records of ended jobs go after the retention time (docs/operations.md)."""
        gone = await self.store.expire_finished(retention_s)
        for record in gone:
            await self._delete(record.input_key, record.result_key)
        return len(gone)

    async def requeue_lost(self) -> None:
        """Runs whose node stopped renewing go back to the queue (or fail, bounded)."""
        for record in await self.store.requeue_lost_tasks():
            await self._delete(record.input_key)
            self.metrics.count_job_finished(record.op, str(JobState.FAILED))

    async def reap_silent_nodes(self, silent_s: float) -> None:
        """Uploads held by nodes that stopped beating go, with their unfinished blobs."""
        jobs, raw = await self.store.reap_dead_uploads(silent_s)
        for key in [*(record.input_key for record in jobs), *raw]:
            await self._delete(key)
        await self.blobs.abort_uploads_except(self.store.uploading_keys)

    async def restart_sweep(self) -> list[str]:
        """After a restart: this node's interrupted uploads go; the jobs it was running
        go back to the queue (failing, bounded, if they stopped it too often); blobs no
        row owns are deleted. The ids of the jobs waiting now."""
        sweep = await self.store.restart_sweep(requeue=self.shared)
        for record in [*sweep.discarded, *sweep.failed]:
            await self._delete(record.input_key)
        for key in sweep.raw_discarded:
            await self._delete(key)
        if swept := await self.sweep_orphans():
            log.info("deleted %d stored file(s) no job owns", swept)
        for record in sweep.failed:
            self.metrics.count_job_finished(record.op, str(JobState.FAILED))
        return sweep.waiting

    async def sweep_orphans(self) -> int:
        """Delete blobs no row owns (left by a crash between storing and recording, or
        chunks of a job that ended on another node). Listed first, owners read second:
        a blob stored meanwhile has its row already."""
        listed = [key for area in AREAS for key in await self.blobs.keys(area)]
        owned = await self.store.owned_keys()
        orphans = [key for key in listed if not owned.owns(key)]
        await self._delete(*orphans)
        return len(orphans)

    async def _delete(self, *keys: str | None) -> None:
        for key in keys:
            if key is None:
                continue
            try:
                with trio.CancelScope(shield=True):
                    await self.blobs.delete(key)
            except Exception as exc:  # the store's own errors (OSError, botocore's)
                log.warning("cannot delete %s now (an orphan sweep will): %s", key, exc)
