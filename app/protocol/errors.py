"""Error codes of the service, the error JSON of SPEC §2.1, and the protocol exceptions."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class ErrorCode(enum.StrEnum):
    """Stable codes for every refusal; documented in docs/protocol.md."""

    # Framing (the connection is closed after these).
    BAD_HEADER = "bad_header"
    JSON_SIZE = "json_size"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_MEDIA_TYPE = "bad_media_type"
    BAD_JSON = "bad_json"
    TRUNCATED = "truncated"
    BAD_PROXY_HEADER = "bad_proxy_header"
    # Encryption (SPEC §6, docs/security.md).
    BAD_HANDSHAKE = "bad_handshake"
    BAD_RECORD = "bad_record"
    ENCRYPTION_REQUIRED = "encryption_required"
    KEY_NOT_AUTHORIZED = "key_not_authorized"
    TOO_MANY_KEY_EXCHANGES = "too_many_key_exchanges"
    # Client-side only: never sent by a server.
    SERVER_KEY_CHANGED = "server_key_changed"
    BAD_KEY_FILE = "bad_key_file"
    NOT_MP4 = "not_mp4"
    # Requests.
    UNKNOWN_OP = "unknown_op"
    BAD_PARAMS = "bad_params"
    PAYLOAD_REQUIRED = "payload_required"
    PAYLOAD_UNEXPECTED = "payload_unexpected"
    HASH_MISMATCH = "hash_mismatch"
    QUOTA_EXCEEDED = "quota_exceeded"
    JOB_LIMIT = "job_limit"
    KEY_QUOTA_EXCEEDED = "key_quota_exceeded"
    BUSY = "busy"
    QUEUE_FULL = "queue_full"
    SERVER_SHUTTING_DOWN = "shutting_down"
    TIMEOUT = "timeout"
    TOO_SLOW = "too_slow"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    DISK_FULL = "disk_full"
    # Jobs.
    JOB_NOT_FOUND = "job_not_found"
    WRONG_NODE = "wrong_node"
    JOB_NOT_DONE = "job_not_done"
    JOB_FINISHED = "job_finished"
    SERVER_RESTARTED = "server_restarted"
    # Media.
    UNREADABLE_MEDIA = "unreadable_media"
    FORMAT_NOT_ALLOWED = "format_not_allowed"
    MEDIA_TOO_LARGE = "media_too_large"
    UNSUPPORTED_MEDIA = "unsupported_media"
    NO_VIDEO = "no_video"
    NO_AUDIO = "no_audio"
    FFMPEG_FAILED = "ffmpeg_failed"
    ENCODER_MISSING = "encoder_missing"
    RESULT_TOO_LARGE = "result_too_large"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What a user reads: the code, what went wrong, and what to do about it."""

    code: ErrorCode
    description: str
    solution: str

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {
                "code": str(self.code),
                "description": self.description,
                "solution": self.solution,
            }
        }

    @classmethod
    def from_answer(cls, doc: dict[str, Any]) -> ErrorInfo | None:
        """The refusal an answer carries, or None when it is not a refusal.

        A `status` answer may carry the *job's* error beside its `state`; that is a
        successful answer about a failed job, not a refusal of the request.
        """
        return None if "state" in doc else cls.from_json(doc)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ErrorInfo | None:
        """The error object in `doc` ({"error": {...}}), or None."""
        err = doc.get("error")
        if not isinstance(err, dict):
            return None
        raw_code = str(err.get("code", "internal"))
        try:
            code = ErrorCode(raw_code)
        except ValueError:
            code = ErrorCode.INTERNAL
        return cls(code, str(err.get("description", raw_code)), str(err.get("solution", "")))


class VcsError(Exception):
    """An error with a code, description and solution, meant to reach a user."""

    def __init__(self, code: ErrorCode, description: str, solution: str) -> None:
        super().__init__(description)
        self.info = ErrorInfo(code, description, solution)

    @property
    def code(self) -> ErrorCode:
        return self.info.code


class RemoteProtocolError(VcsError):
    """The peer sent bytes that break the protocol; `info` is the answer to send back."""


class LocalProtocolError(Exception):
    """We tried to build something the protocol does not allow (a bug on our side)."""
