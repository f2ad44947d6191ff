"""One handler per request op (SPEC §2.1). Each raises VcsError for a refusal."""

from __future__ import annotations

from typing import Any, Final

import trio

from app.protocol import ErrorCode, MessageHead, VcsError
from app.protocol.ops import FILENAME, SHA256, TRAILER, WAIT_S
from app.protocol.ops.fields import BadParam
from app.server.job import JobState
from app.server.ops import UPLOAD_OPS
from app.server.registry import OwnerLimits
from app.server.state import ServerState
from app.server.storage import refusing_when_disk_full
from app.server.upload_accounting import counting_received
from app.server.worker import run_job
from app.wire.payload_receive import receive_payload
from app.wire.secure_stream import SecureStream
from app.wire.stream import MessageStream

# Long-polling `status` answers early once progress moved this much.
STATUS_PROGRESS_STEP: Final = 0.01


def refuse_payload(head: MessageHead) -> None:
    if head.payload_size:
        raise VcsError(
            ErrorCode.PAYLOAD_UNEXPECTED,
            f"The {head.json.get('op')!r} request carries no payload, but one was declared.",
            "Send this request with payload size 0 and no media type.",
        )


def _wants_trailer(doc: dict[str, Any]) -> bool:
    """`"trailer": "sha256"`: the payload's SHA-256 follows it in a message of its own."""
    if TRAILER.parse(doc) is None:
        return False
    if doc.get(SHA256.name) is not None:
        raise BadParam(
            TRAILER.name,
            "not with sha256",
            "The request has both 'sha256' and 'trailer'.",
            "Send the hash in the request ('sha256') or after the payload ('trailer'), not both.",
        )
    return True


async def _receive_trailer(ms: MessageStream) -> str:
    """The message after the payload that carries its SHA-256 (docs/protocol.md)."""
    doc = await ms.receive_message()
    if doc is None:
        raise VcsError(
            ErrorCode.TRUNCATED,
            "The connection ended before the upload's trailer.",
            'Send {"sha256": HEX} right after the payload when the request says '
            '"trailer": "sha256".',
        )
    digest: str | None = SHA256.parse(doc)
    if digest is None or set(doc) != {SHA256.name}:
        raise BadParam(
            TRAILER.name,
            "exactly {sha256}",
            'The upload\'s trailer must be exactly {"sha256": HEX}.',
            "Send the payload's SHA-256 as the only field of the message after it.",
        )
    return digest


def client_key(ms: MessageStream) -> str | None:
    """The fingerprint of the key the client proved in this session's key exchange
    (None in plaintext): who owns the jobs it makes and may see them."""
    return ms.stream.peer_fingerprint if isinstance(ms.stream, SecureStream) else None


def _owner_limits(state: ServerState, owner: str | None) -> OwnerLimits | None:
    """The key's own caps from the authorized-keys file, if it sets any."""
    if owner is None or state.authorized_keys is None:
        return None
    entry = state.authorized_keys.lookup(owner)
    if entry is None or (entry.max_jobs is None and entry.quota_bytes is None):
        return None
    return OwnerLimits(entry.name, entry.max_jobs, entry.quota_bytes)


async def handle_upload(head: MessageHead, ms: MessageStream, ip: str, state: ServerState) -> None:
    """Check, reserve, store atomically, then start the job and answer `accepted`."""
    op = UPLOAD_OPS[str(head.json["op"])]
    params = op.check_params(head.json)
    expected_sha: str | None = SHA256.parse(head.json)
    trailer = _wants_trailer(head.json)
    # Only ever a base name shown in reports and naming the result (never a path).
    filename = FILENAME.parse(head.json) or f"upload.{head.media_type}"
    if head.payload_size == 0:
        raise VcsError(
            ErrorCode.PAYLOAD_REQUIRED,
            f"The {op.name!r} request needs the video as its payload.",
            "Send the file as the payload, with its extension (e.g. mp4) as the media type.",
        )
    if not state.accepting:
        raise VcsError(
            ErrorCode.SERVER_SHUTTING_DOWN,
            "The server is shutting down and takes no new uploads.",
            "Try again in a moment (or another node, behind a balancer).",
        )
    # SPEC §3: the per-IP rule and the quota are settled before any payload byte is stored.
    owner = client_key(ms)
    limits = _owner_limits(state, owner)
    with state.jobs.admit_upload(ip, head.payload_size, owner, limits) as admission:
        with (
            refusing_when_disk_full(),
            state.storage.partial_upload(hash_it=expected_sha is not None or trailer) as partial,
        ):
            await receive_payload(
                ms, partial, counting_received(state.metrics, "mmp", admission.reservation)
            )
            if trailer:
                expected_sha = await _receive_trailer(ms)
            if expected_sha is not None and partial.hexdigest() != expected_sha:
                raise VcsError(
                    ErrorCode.HASH_MISMATCH,
                    "The payload's SHA-256 does not match the one sent with it; nothing was "
                    "stored.",
                    "The file changed or was damaged in transit: send it again.",
                )
            input_path = state.storage.input_path(admission.job_id)
            await partial.commit(input_path)
        job = admission.accept(
            op=op.name,
            params=params,
            filename=filename,
            input_path=input_path,
            input_media_type=head.media_type,
        )
    state.job_nursery.start_soon(run_job, job, state)
    await ms.send_message(
        {"status": "accepted", "job_id": job.id, "op": op.name, "size": head.payload_size},
        head.dialect,
    )


async def handle_status(head: MessageHead, ms: MessageStream, state: ServerState) -> None:
    """Answer at once, or (with `wait_s`) when the state changes or progress moves 1%."""
    job = state.jobs.get(head.json.get("job_id"), client_key(ms))
    wait_s: float = WAIT_S.parse(head.json)
    start_state, start_progress = job.state, job.progress
    with trio.move_on_after(wait_s):
        while (
            not job.state.finished
            and job.state == start_state
            and job.progress - start_progress < STATUS_PROGRESS_STEP
        ):
            await job.changed.wait()
    await ms.send_message(job.status_json(), head.dialect)


async def handle_download(head: MessageHead, ms: MessageStream, state: ServerState) -> None:
    """Send the result as the payload, then delete it (SPEC §3)."""
    job = state.jobs.get(head.json.get("job_id"), client_key(ms))
    if job.state is not JobState.DONE:
        raise VcsError(
            ErrorCode.JOB_NOT_DONE,
            f"The job is {job.state}, so there is no result to download.",
            "Poll `status` until the state is done; failed or cancelled jobs have no result.",
        )
    if job.downloaded or job.result_path is None:
        raise VcsError(
            ErrorCode.JOB_NOT_FOUND,
            "The job's result was already downloaded, and is deleted after a download.",
            "Upload the file again to get a new result.",
        )
    path = job.result_path
    assert job.result_media_type is not None and job.result_size is not None
    with path.open("rb") as f:
        await ms.send_message(
            {
                "status": "ok",
                "job_id": job.id,
                "filename": job.result_filename(),
                "size": job.result_size,
                "sha256": job.result_sha256,
                "media_type": job.result_media_type,
                "report": job.report,
            },
            head.dialect,
            job.result_media_type,
            job.result_size,
        )
        await ms.send_file(f, job.result_size)
    state.metrics.count_sent("mmp", job.result_size)
    state.jobs.downloaded(job)


async def handle_cancel(head: MessageHead, ms: MessageStream, state: ServerState) -> None:
    job = state.jobs.get(head.json.get("job_id"), client_key(ms))
    state.jobs.cancel(job)
    await ms.send_message({"status": "cancelled", "job_id": job.id}, head.dialect)
