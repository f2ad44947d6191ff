"""One handler per request op (SPEC §2.1). Each raises VcsError for a refusal."""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Final

import trio

from app.protocol import ErrorCode, MessageHead, VcsError
from app.server.config import MAX_STATUS_WAIT_S
from app.server.job import JobState
from app.server.ops import UPLOAD_OPS
from app.server.ops.base import bad_params
from app.server.state import ServerState
from app.server.storage import refusing_when_disk_full
from app.server.upload_sink import counting_received, store_payload
from app.server.worker import run_job
from app.wire.stream import MessageStream

_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)
# Long-polling `status` answers early once progress moved this much.
STATUS_PROGRESS_STEP: Final = 0.01


def refuse_payload(head: MessageHead) -> None:
    if head.payload_size:
        raise VcsError(
            ErrorCode.PAYLOAD_UNEXPECTED,
            f"The {head.json.get('op')!r} request carries no payload, but one was declared.",
            "Send this request with payload size 0 and no media type.",
        )


def _display_name(raw: object, media_type: str) -> str:
    """The client's file name, reduced to a harmless base name used only in reports."""
    if not isinstance(raw, str) or not raw:
        return f"upload.{media_type}"
    name = PureWindowsPath(PurePosixPath(raw).name).name
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "\\/:")[:200]
    return name.strip(". ") or f"upload.{media_type}"


def _expected_sha256(doc: dict[str, Any]) -> str | None:
    value = doc.get("sha256")
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256_RE.fullmatch(value.lower()):
        raise bad_params(
            "'sha256' must be 64 hexadecimal digits.",
            "Send the SHA-256 of the payload in hex, or leave the field out.",
        )
    return value.lower()


async def handle_upload(head: MessageHead, ms: MessageStream, ip: str, state: ServerState) -> None:
    """Check, reserve, store atomically, then start the job and answer `accepted`."""
    op = UPLOAD_OPS[str(head.json["op"])]
    params = op.check_params(head.json)
    expected_sha = _expected_sha256(head.json)
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
    with state.jobs.admit_upload(ip, head.payload_size) as admission:
        with (
            refusing_when_disk_full(),
            state.storage.partial_upload(hash_it=expected_sha is not None) as partial,
        ):
            await store_payload(
                ms, partial, counting_received(state.metrics, "mmp", admission.reservation)
            )
            if expected_sha is not None and partial.hexdigest() != expected_sha:
                raise VcsError(
                    ErrorCode.HASH_MISMATCH,
                    "The payload's SHA-256 does not match the 'sha256' field; nothing was stored.",
                    "The file changed or was damaged in transit: send it again.",
                )
            input_path = state.storage.input_path(admission.job_id)
            await partial.commit(input_path)
        job = admission.accept(
            op=op.name,
            params=params,
            filename=_display_name(head.json.get("filename"), head.media_type),
            input_path=input_path,
            input_media_type=head.media_type,
        )
    state.job_nursery.start_soon(run_job, job, state)
    await ms.send_message(
        {"status": "accepted", "job_id": job.id, "op": op.name, "size": head.payload_size},
        head.dialect,
    )


def _wait_s(doc: dict[str, Any]) -> float:
    value = doc.get("wait_s", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_params("'wait_s' must be a number of seconds.", 'Send e.g. "wait_s": 30.')
    return min(max(0.0, float(value)), MAX_STATUS_WAIT_S)


async def handle_status(head: MessageHead, ms: MessageStream, state: ServerState) -> None:
    """Answer at once, or (with `wait_s`) when the state changes or progress moves 1%."""
    job = state.jobs.get(head.json.get("job_id"))
    wait_s = _wait_s(head.json)
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
    job = state.jobs.get(head.json.get("job_id"))
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
    job = state.jobs.get(head.json.get("job_id"))
    state.jobs.cancel(job)
    await ms.send_message({"status": "cancelled", "job_id": job.id}, head.dialect)
