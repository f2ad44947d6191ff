"""What a server's answers must look like before the client acts on them.

A server of another version, a proxy, or a hostile peer may send anything: a `status`
answer with a payload, a progress that is a string, a download without its size or
SHA-256. Each is a `MalformedAnswer` (the CLI's exit 4) naming what was wrong, never a
traceback and never a file written from an answer that was not understood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from app.client.errors import ConnectionFailed
from app.protocol import MessageHead
from app.protocol.ops import JOB_ID_RE
from app.protocol.ops.fields import is_json_number
from app.protocol.ops.request_fields import SHA256_RE

JOB_STATES: Final = ("queued", "running", "done", "failed", "cancelled")


class MalformedAnswer(ConnectionFailed):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"The server's answer {what}; nothing was done with it.",
            "Check that --server points at a vcs-serve MMP port (client and server of the "
            "same version); if it does, report this to the server's operator.",
        )


def _optional(doc: dict[str, Any], key: str, kinds: type | tuple[type, ...], what: str) -> None:
    value = doc.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
        raise MalformedAnswer(f"has a '{key}' that is not {what}")


def _number_in(doc: dict[str, Any], key: str, low: float, high: float) -> None:
    value = doc.get(key)
    if value is not None and not (is_json_number(value) and low <= value <= high):
        raise MalformedAnswer(f"has a '{key}' that is not a number in {low:g}..{high:g}")


def no_payload(head: MessageHead, request: str) -> None:
    if head.payload_size:
        raise MalformedAnswer(
            f"to {request} carries a payload of {head.payload_size} bytes, where it has none"
        )


def job_id_of(doc: dict[str, Any]) -> str:
    """The job id an `accepted` (or any job) answer names."""
    job_id = doc.get("job_id")
    if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
        raise MalformedAnswer("names no job id (or one of the wrong shape)")
    return job_id


def checked_status(doc: dict[str, Any]) -> dict[str, Any]:
    """A `status` answer whose fields have the types the client reads."""
    job_id_of(doc)
    if doc.get("state") not in JOB_STATES:
        raise MalformedAnswer(f"has no known job state (one of {', '.join(JOB_STATES)})")
    _number_in(doc, "progress", 0, 1)
    _number_in(doc, "eta_s", 0, float("inf"))
    for key in ("input_size", "output_size"):
        _number_in(doc, key, 0, float("inf"))
    _optional(doc, "phase", str, "text")
    _optional(doc, "op", str, "text")
    _optional(doc, "error", dict, "an error object")
    _optional(doc, "result", dict, "an object")
    if isinstance(doc.get("result"), dict):
        _number_in(doc["result"], "size", 0, float("inf"))
    return doc


def checked_cancel(doc: dict[str, Any]) -> dict[str, Any]:
    if doc.get("status") != "cancelled":
        raise MalformedAnswer("to cancel does not say 'cancelled'")
    return doc


@dataclass(frozen=True, slots=True)
class DownloadAnswer:
    size: int
    sha256: str
    filename: object  # the server's suggestion; reduced with safe_base_name before use
    doc: dict[str, Any]


def checked_download(head: MessageHead) -> DownloadAnswer:
    """The head of a download answer: its size and SHA-256 are what the file is checked
    against, so both must be there and agree with the payload."""
    doc = head.json
    size, sha256 = doc.get("size"), doc.get("sha256")
    if isinstance(size, bool) or not isinstance(size, int) or size != head.payload_size:
        raise MalformedAnswer(f"gives no 'size' matching its payload of {head.payload_size} bytes")
    if not isinstance(sha256, str) or not SHA256_RE.fullmatch(sha256):
        raise MalformedAnswer("gives no 'sha256' (64 lower-case hex digits) for its file")
    _optional(doc, "report", dict, "an object")
    return DownloadAnswer(size, sha256, doc.get("filename"), doc)
