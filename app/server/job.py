"""One job as clients see it: its id, its state, and what `status` shows of its record.

A job's record lives in the job store (app/server/stores/): SQLite in the storage
directory for one node, PostgreSQL for a cluster, so any node can answer for it. Its
transitions belong to the JobRegistry (registry.py): nothing else moves a job from one
state to another.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any, Final

from app.protocol.errors import ErrorInfo

# The shape of a job id and the answer to a wrong one are the op table's (`job_id`).
from app.protocol.ops import JOB_ID_RE, job_not_found
from app.server.stores.job_store import JobRecord, JobState

__all__ = [
    "JOB_ID_RE",
    "REPORTED_STATES",
    "JobRecord",
    "JobState",
    "full_report",
    "job_not_found",
    "new_job_id",
    "result_filename",
    "status_json",
]

JOB_ID_BYTES: Final = 16  # 128 random bits
# What `status` can answer: a job still uploading has no id its client knows yet.
REPORTED_STATES: Final = tuple(state for state in JobState if state is not JobState.UPLOADING)
NODE_ID_RE: Final = re.compile(r"[a-z0-9]{1,16}", re.ASCII)


def new_job_id(node_id: str = "") -> str:
    """128 random bits, prefixed with the name of the node that accepted the upload (for
    logs: any node of a cluster answers for any job, whatever its prefix)."""
    token = secrets.token_hex(JOB_ID_BYTES)
    return f"{node_id}-{token}" if node_id else token


def result_filename(record: JobRecord) -> str:
    stem = Path(record.filename).stem or "result"
    return f"{stem}.{record.op}.{record.result_media_type}"


def _error_doc(error: ErrorInfo) -> dict[str, Any]:
    doc: dict[str, Any] = error.to_json()["error"]
    return doc


def status_json(record: JobRecord) -> dict[str, Any]:
    """The `status` answer (docs/protocol.md): the same from every node."""
    doc: dict[str, Any] = {
        "job_id": record.id,
        "op": record.op,
        "state": str(record.state),
        "phase": record.phase,
        "progress": round(record.progress, 4),
        "eta_s": record.eta_s,
        "input_size": record.input_size,
    }
    if record.error is not None:
        doc["error"] = _error_doc(record.error)
    if record.state is JobState.DONE:
        doc["result"] = {
            "filename": result_filename(record),
            "media_type": record.result_media_type,
            "size": record.result_size,
            "sha256": record.result_sha256,
            "downloaded": record.downloaded,
            **record.report,
        }
    return doc


def full_report(input_size: int, output_size: int, op_report: dict[str, Any]) -> dict[str, Any]:
    """What a result's report says: sizes before and after, then the op's own fields."""
    return {
        "input_size": input_size,
        "output_size": output_size,
        "reduction": round(1 - output_size / input_size, 4) if input_size else 0,
        **op_report,
    }
