"""One handler per request op (SPEC §2.1). Each raises VcsError for a refusal."""

from __future__ import annotations

from typing import Final

import trio

from app.protocol import ErrorCode, MessageHead, VcsError
from app.protocol.ops import FILENAME, SHA256, WAIT_S
from app.server.blob_download import send_blob
from app.server.job import JobRecord, JobState, result_filename, status_json
from app.server.ops import UPLOAD_OPS
from app.server.state import ServerState
from app.server.storage import refusing_when_disk_full
from app.server.upload_sink import counting_received, store_payload
from app.wire.secure_stream import SecureStream
from app.wire.stream import MessageStream

# Long-polling `status` answers early once progress moved this much.
STATUS_PROGRESS_STEP: Final = 0.01
# A long poll reads the job again this often, in case a notification was lost.
STATUS_POLL_S: Final = 2.0


def refuse_payload(head: MessageHead) -> None:
    if head.payload_size:
        raise VcsError(
            ErrorCode.PAYLOAD_UNEXPECTED,
            f"The {head.json.get('op')!r} request carries no payload, but one was declared.",
            "Send this request with payload size 0 and no media type.",
        )


def owner_of(ms: MessageStream) -> str | None:
    """The client key of an encrypted session (SPEC §6: a job belongs to its key)."""
    stream = ms.stream
    return stream.peer_fingerprint if isinstance(stream, SecureStream) else None


async def handle_upload(head: MessageHead, ms: MessageStream, ip: str, state: ServerState) -> None:
    """Check, reserve, store atomically, then queue the job and answer `accepted`."""
    op = UPLOAD_OPS[str(head.json["op"])]
    params = op.check_params(head.json)
    expected_sha: str | None = SHA256.parse(head.json)
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
    # SPEC §3: the per-IP rule and the quota are settled before any payload byte is
    # stored, in one job store transaction (cluster-wide with PostgreSQL).
    async with state.jobs.admit_upload(
        ip,
        head.payload_size,
        op=op.name,
        params=params,
        filename=filename,
        media_type=head.media_type,
        owner=owner_of(ms),
    ) as admission:
        with refusing_when_disk_full():
            async with state.blobs.upload(
                admission.input_key, head.payload_size, hash_it=expected_sha is not None
            ) as blob:
                received = counting_received(state.metrics, "mmp", admission.hold)
                await store_payload(ms, blob, received)
                if expected_sha is not None and blob.hexdigest() != expected_sha:
                    raise VcsError(
                        ErrorCode.HASH_MISMATCH,
                        "The payload's SHA-256 does not match the 'sha256' field; "
                        "nothing was stored.",
                        "The file changed or was damaged in transit: send it again.",
                    )
                await blob.commit()
        await admission.accept()
    await ms.send_message(
        {
            "status": "accepted",
            "job_id": admission.job_id,
            "op": op.name,
            "size": head.payload_size,
        },
        head.dialect,
    )


def _unchanged(record: JobRecord, state: JobState, progress: float) -> bool:
    return (
        not record.state.finished
        and record.state == state
        and record.progress - progress < STATUS_PROGRESS_STEP
    )


async def handle_status(head: MessageHead, ms: MessageStream, state: ServerState) -> None:
    """Answer at once, or (with `wait_s`) when the state changes or progress moves 1%,
    wherever the job runs: the store's notifications wake us, and we look again every
    STATUS_POLL_S in case one was lost."""
    jobs = state.jobs
    record = await jobs.get(head.json.get("job_id"))
    wait_s: float = WAIT_S.parse(head.json)
    start_state, start_progress = record.state, record.progress
    with trio.move_on_after(wait_s):
        while _unchanged(record, start_state, start_progress):
            changed = jobs.board.job_signal(record.id)
            record = await jobs.get(record.id)
            if not _unchanged(record, start_state, start_progress):
                break
            with trio.move_on_after(STATUS_POLL_S):
                await changed.wait()
            record = await jobs.get(record.id)
    await ms.send_message(status_json(record), head.dialect)


async def handle_download(head: MessageHead, ms: MessageStream, state: ServerState) -> None:
    """Send the result as the payload, from whichever node stored it, then delete it."""
    record = await state.jobs.get(head.json.get("job_id"))
    if record.state is not JobState.DONE:
        raise VcsError(
            ErrorCode.JOB_NOT_DONE,
            f"The job is {record.state}, so there is no result to download.",
            "Poll `status` until the state is done; failed or cancelled jobs have no result.",
        )
    gone = VcsError(
        ErrorCode.JOB_NOT_FOUND,
        "The job's result was already downloaded, and is deleted after a download.",
        "Upload the file again to get a new result.",
    )
    if record.downloaded or record.result_key is None:
        raise gone
    assert record.result_media_type is not None and record.result_size is not None
    opened = False
    try:
        async with state.blobs.open(record.result_key) as source:
            opened = True
            await ms.send_message(
                {
                    "status": "ok",
                    "job_id": record.id,
                    "filename": result_filename(record),
                    "size": record.result_size,
                    "sha256": record.result_sha256,
                    "media_type": record.result_media_type,
                    "report": record.report,
                },
                head.dialect,
                record.result_media_type,
                record.result_size,
            )
            await send_blob(ms, source, record.result_size)
    except FileNotFoundError:
        if opened:
            raise
        raise gone from None  # downloaded or cancelled since we read the record
    state.metrics.count_sent("mmp", record.result_size)
    await state.jobs.downloaded(record)


async def handle_cancel(head: MessageHead, ms: MessageStream, state: ServerState) -> None:
    record = await state.jobs.cancel(head.json.get("job_id"))
    await ms.send_message({"status": "cancelled", "job_id": record.id}, head.dialect)
