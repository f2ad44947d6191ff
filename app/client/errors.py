"""What a client call can fail with, each carrying text a user can act on."""

from __future__ import annotations

from app.protocol import ErrorCode, ErrorInfo, VcsError


class ServerError(VcsError):
    """The server refused the request with the error JSON."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.code, info.description, info.solution)


class ConnectionFailed(VcsError):
    """The server could not be reached, or the connection broke mid-request, or (codes
    server_key_changed, bad_key_file) it could not be made safely (docs/security.md)."""

    def __init__(
        self, description: str, solution: str, code: ErrorCode = ErrorCode.INTERNAL
    ) -> None:
        super().__init__(code, description, solution)


class TransferCorrupted(VcsError):
    """A download's size or SHA-256 did not match what the server announced."""

    def __init__(self, description: str) -> None:
        super().__init__(
            ErrorCode.HASH_MISMATCH, description, "Download again; nothing was kept locally."
        )


class ServerKeyChanged(ConnectionFailed):
    """The server presented a key other than the one pinned on first use (docs/security.md)."""

    def __init__(self, address: str, pinned: str, presented: str, known_servers: str) -> None:
        super().__init__(
            f"The server at {address} presented the key {presented}, but {pinned} is "
            f"pinned for it in {known_servers}. Someone may be intercepting the "
            "connection, or the server's key was replaced. Nothing was sent.",
            "Ask the server's operator for its fingerprint (`vcs-serve --show-fingerprint` "
            f"on the server). Only if it is {presented}, accept it with "
            f"`vcs keys accept {address} {presented}`.",
            ErrorCode.SERVER_KEY_CHANGED,
        )
