"""Every job's life, in one owner: admission, start, result, end, download, expiry, restart.

No other module moves a job between states, takes or frees a client's job slot, or
holds or releases quota for a job: they call the transition named for what happened.

    admit_upload ─ Admission.accept → queued ─ start → running ─ complete → done
         │ (abandoned: nothing kept)       │                │ fail/cancel     │
         └────────────────────────────── job_ended (input deleted, slot freed)
    done ─ downloaded / discard / expire → result deleted, its quota freed

Admission rules (docs/operations.md, "Limits and defaults"), all settled before a
payload byte is stored: one job per client address (SPEC §3), at most
`max_jobs_per_network` from one /24 (IPv4) or /64 (IPv6) block, at most
`max_queued_jobs` waiting in all, and the quota for the store and per address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from app.protocol.errors import ErrorCode, ErrorInfo, VcsError
from app.server.job import JOB_ID_RE, Job, JobState, job_not_found, new_job_id
from app.server.job_index import JobIndex
from app.server.metrics import Metrics
from app.server.quota import Quota
from app.server.storage import Storage
from app.server.units import format_bytes

log = logging.getLogger(__name__)

NETWORK_PREFIX_V4: Final = 24
NETWORK_PREFIX_V6: Final = 64


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
class OwnerLimits:
    """A client key's own caps, from its authorized-keys line (None: no own cap)."""

    name: str = ""
    max_jobs: int | None = None  # uploading, queued or running at once
    quota_bytes: int | None = None  # held by its jobs: inputs and results


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    max_queued_jobs: int = 0  # jobs waiting for an FFmpeg slot, in all; 0: no cap
    max_jobs_per_network: int = 0  # active jobs from one /24 or /64; 0: no cap


class Admission:
    """An upload let in: its address's job slot and its growing quota reservation.

    It becomes a queued job with `accept`; left without one (refused, cut, cancelled)
    it gives everything back.
    """

    def __init__(
        self, registry: JobRegistry, ip: str, declared_size: int, owner: str | None
    ) -> None:
        self._registry = registry
        self.ip = ip
        self.owner = owner
        self.declared_size = declared_size
        self.job_id = new_job_id(registry.node_id)
        self.reservation = registry.quota.reserve_upload(declared_size, ip)
        self.accepted = False

    def accept(self, **fields: Any) -> Job:
        """The payload is stored: the job joins the queue holding the slot and the bytes."""
        self.reservation.arrived()
        job = Job(
            id=self.job_id,
            client_ip=self.ip,
            input_size=self.declared_size,
            owner=self.owner,
            **fields,
        )
        job.input_reservation = self.reservation
        self.accepted = True
        self._registry._admitting.discard(self)
        self._registry._add(job)
        return job

    def _abandon(self) -> None:
        self._registry._admitting.discard(self)
        if not self.accepted:
            self.reservation.release()
            self._registry._release_slot(self.ip)


class JobRegistry:
    """All jobs of this server, the addresses that hold one, and the job index."""

    def __init__(
        self,
        storage: Storage,
        quota: Quota,
        node_id: str = "",
        rules: AdmissionRules | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._storage = storage
        self._index = JobIndex(storage.jobs)
        self.quota = quota
        self.node_id = node_id
        self.rules = rules or AdmissionRules()
        self._metrics = metrics or Metrics()
        self._jobs: dict[str, Job] = {}
        self._busy_ips: set[str] = set()
        self._admitting: set[Admission] = set()  # uploads in progress

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def unfinished(self) -> list[Job]:
        return [job for job in self._jobs.values() if not job.state.finished]

    # ---- admission -------------------------------------------------------------

    @contextlib.contextmanager
    def admit_upload(
        self,
        ip: str,
        declared_size: int,
        owner: str | None = None,
        owner_limits: OwnerLimits | None = None,
    ) -> Iterator[Admission]:
        """Settle the admission rules and the quota before any payload byte is stored.
        `owner`: the client key making the job over an encrypted session."""
        self._check_queue(ip)
        if owner is not None and owner_limits is not None:
            self._check_owner(owner, owner_limits, declared_size)
        self._take_slot(ip)
        try:
            admission = Admission(self, ip, declared_size, owner)
        except BaseException:
            self._release_slot(ip)
            raise
        self._admitting.add(admission)
        try:
            yield admission
        finally:
            admission._abandon()

    def waiting(self) -> int:
        """Jobs waiting for an FFmpeg slot; uploads in progress count, as each becomes a
        queued job when its payload is in."""
        running = sum(job.state is JobState.RUNNING for job in self._jobs.values())
        return len(self._busy_ips) - running

    def _check_queue(self, ip: str) -> None:
        rules = self.rules
        waiting = self.waiting()
        if rules.max_queued_jobs and waiting >= rules.max_queued_jobs:
            raise VcsError(
                ErrorCode.QUEUE_FULL,
                f"The server already has {waiting} jobs waiting, the most it queues.",
                "Try again in a few minutes, when the queue has moved.",
            )
        if rules.max_jobs_per_network:
            network = network_of(ip)
            active = sum(network_of(busy) == network for busy in self._busy_ips)
            if active >= rules.max_jobs_per_network:
                raise VcsError(
                    ErrorCode.JOB_LIMIT,
                    f"Addresses in {network} already have {active} jobs being uploaded, "
                    "queued or processed, the most this server takes from one network.",
                    "Wait until one of them finishes, then send the next file.",
                )

    def _check_owner(self, owner: str, limits: OwnerLimits, declared_size: int) -> None:
        """The key's own caps (docs/security.md, "Who may connect")."""
        jobs = [j for j in self._jobs.values() if j.owner == owner]
        uploading = [a for a in self._admitting if a.owner == owner]
        who = f"Your key ({limits.name or owner})"
        active = len(uploading) + sum(not j.state.finished for j in jobs)
        if limits.max_jobs is not None and active >= limits.max_jobs:
            raise VcsError(
                ErrorCode.KEY_QUOTA_EXCEEDED,
                f"{who} already has {active} job(s) uploading, queued or running, the most "
                "the server's operator allows it.",
                "Wait for one to finish (or cancel one), then send the next file.",
            )
        held = sum(a.declared_size for a in uploading) + sum(
            r.size for j in jobs for r in (j.input_reservation, j.result_reservation) if r
        )
        if limits.quota_bytes is not None and held + declared_size > limits.quota_bytes:
            raise VcsError(
                ErrorCode.KEY_QUOTA_EXCEEDED,
                f"{who} may hold {format_bytes(limits.quota_bytes)} on this server; its jobs "
                f"hold {format_bytes(held)} and this upload needs {format_bytes(declared_size)}.",
                "Download or cancel finished jobs to free space, or ask the operator for a "
                "larger quota.",
            )

    def _take_slot(self, ip: str) -> None:
        # SPEC §3: one job per client IP (upload + queue + processing).
        if ip in self._busy_ips:
            raise VcsError(
                ErrorCode.JOB_LIMIT,
                f"A job from your address ({ip}) is already being uploaded or processed.",
                "Wait for it to finish (`vcs status JOB`), or cancel it (`vcs cancel JOB`), "
                "then send the next file.",
            )
        self._busy_ips.add(ip)

    def _release_slot(self, ip: str) -> None:
        self._busy_ips.discard(ip)

    def ip_is_busy(self, ip: str) -> bool:
        return ip in self._busy_ips

    def _add(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._index.save(job)
        self._metrics.count_job_accepted(job.op)

    # ---- lookup ----------------------------------------------------------------

    def get(self, job_id: object, owner: str | None = None) -> Job:
        """The job `job_id` names, as the client `owner` (its key over an encrypted
        session, None in plaintext) may see it: another key's job is not found, exactly
        as an id that does not exist (docs/security.md)."""
        match = JOB_ID_RE.fullmatch(job_id) if isinstance(job_id, str) else None
        if match is None:
            raise job_not_found()
        node = match.group(1) or ""
        if node != self.node_id and node:
            raise VcsError(
                ErrorCode.WRONG_NODE,
                f"Job ids starting with {node!r} belong to node {node!r}; this is node "
                f"{self.node_id or '(unnamed)'!r}.",
                "Ask from the same address you uploaded from: the balancer routes each "
                "client address to one node. If that node is down, upload again.",
            )
        job = self._jobs.get(match.group(0))
        if job is None or (job.owner is not None and job.owner != owner):
            raise job_not_found()
        return job

    # ---- running ---------------------------------------------------------------

    def start(self, job: Job) -> None:
        """The job has its FFmpeg slot: queued → running."""
        job.state = JobState.RUNNING
        job.set_progress(0.0, None, "probing")

    def reserve_result(self, job: Job, allowance: int) -> int:
        """Hold the result's allowance before FFmpeg starts; returns the bytes allowed."""
        job.result_reservation = self.quota.reserve(allowance, job.client_ip)
        return allowance

    def complete(
        self,
        job: Job,
        result_path: Path,
        media_type: str,
        sha256: str,
        report: dict[str, Any],
        *,
        from_input: bool = False,
    ) -> None:
        """running → done: the result is on disk under its final name. `from_input`: the
        input itself was renamed into the result (compress could not beat it)."""
        size = result_path.stat().st_size
        result = job.result_reservation
        assert result is not None
        if from_input and job.input_reservation is not None:
            # The input's bytes change role: no new space is used.
            result.release()
            job.input_reservation.transfer_to(result)
            job.input_reservation = None
        result.resize(size)
        job.result_path = result_path
        job.result_media_type = media_type
        job.result_size = size
        job.result_sha256 = sha256
        job.report = {
            "input_size": job.input_size,
            "output_size": size,
            "reduction": round(1 - size / job.input_size, 4) if job.input_size else 0,
            **report,
        }
        job.finish(JobState.DONE)

    def fail(self, job: Job, error: ErrorInfo) -> None:
        """queued/running → failed; a job already cancelled stays cancelled."""
        if not job.state.finished:
            job.finish(JobState.FAILED, error)

    def cancel(self, job: Job) -> None:
        """The owner's `cancel`: a result is discarded now, a queued or running job stops."""
        if job.state in (JobState.FAILED, JobState.CANCELLED) or job.downloaded:
            raise VcsError(
                ErrorCode.JOB_FINISHED,
                f"The job already ended ({job.state}); there is nothing to cancel.",
                "No action needed.",
            )
        if job.state is JobState.DONE:
            self._drop_result(job)
            job.finish(JobState.CANCELLED)
            self._index.save(job)
            return
        job.finish(JobState.CANCELLED)
        if job.cancel_scope is not None:
            job.cancel_scope.cancel()

    def job_ended(self, job: Job) -> None:
        """After the job's task, whatever happened: the input goes, the address may send
        its next job, unused result space returns (SPEC §3)."""
        if not job.state.finished:
            job.finish(
                JobState.CANCELLED,
                ErrorInfo(
                    ErrorCode.SERVER_SHUTTING_DOWN,
                    "The server stopped before the job finished.",
                    "Upload the file again once the server is back.",
                ),
            )
        job.input_path.unlink(missing_ok=True)
        if job.input_reservation is not None:
            job.input_reservation.release()
            job.input_reservation = None
        if job.state is not JobState.DONE and job.result_reservation is not None:
            job.result_reservation.release()
        self._release_slot(job.client_ip)
        self._index.save(job)
        self._metrics.count_job_finished(job.op, str(job.state))

    # ---- results ---------------------------------------------------------------

    def downloaded(self, job: Job) -> None:
        """The whole result went out: it is deleted now (SPEC §3)."""
        job.downloaded = True
        self._drop_result(job)
        self._index.save(job)

    def _drop_result(self, job: Job) -> None:
        if job.result_path is not None:
            job.result_path.unlink(missing_ok=True)
            job.result_path = None
        if job.result_reservation is not None:
            job.result_reservation.release()

    def expire(self, now: float, retention_s: float) -> int:
        """Results and records of ended jobs go after the retention time (SPEC §3)."""
        expired = 0
        for job in list(self._jobs.values()):
            if not job.state.finished or job.finished_at is None:
                continue
            if now - job.finished_at < retention_s:
                continue
            self._drop_result(job)
            self._jobs.pop(job.id, None)
            self._index.delete(job.id)
            expired += 1
        return expired

    # ---- restart ---------------------------------------------------------------

    def restart_sweep(self) -> list[Job]:
        """After a restart: unfinished jobs fail (their process is gone), finished
        results count against the quota again, files no job owns are deleted."""
        owned: set[Path] = set()
        for job in self._index.load():
            # Rebuilt from the names we made, under today's storage dir: the directory
            # may have moved since the record was written (else its files would be swept).
            job.input_path = self._storage.uploads / job.input_path.name
            if job.result_path is not None:
                job.result_path = self._storage.results / job.result_path.name
            if not job.state.finished:
                job.finish(
                    JobState.FAILED,
                    ErrorInfo(
                        ErrorCode.SERVER_RESTARTED,
                        "The server restarted while this job was running.",
                        "Upload the file again.",
                    ),
                )
            result = job.result_path
            if job.state is JobState.DONE and result is not None and not job.downloaded:
                try:
                    size = result.stat().st_size
                except FileNotFoundError:
                    job.result_path = None
                else:
                    job.result_reservation = self.quota.reserve_existing(size, job.client_ip)
                    owned.add(result)
            else:
                job.result_path = None
            self._jobs[job.id] = job
            self._index.save(job)
        swept = self._storage.sweep_unowned(owned)
        if swept:
            log.info("deleted %d file(s) no job owns", swept)
        return list(self._jobs.values())
