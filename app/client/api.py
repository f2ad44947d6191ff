"""A trio client for one vcs-serve: upload, status, download, cancel (docs/protocol.md).

Every call opens its own connection: the server closes a connection after any
error, and short connections survive server restarts and balancers. Every answer is
checked (app/client/answers.py) before it is used; a download never replaces an
existing file unless asked (app/client/result_files.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import trio

from app.client.address import ServerAddress
from app.client.answers import (
    checked_cancel,
    checked_download,
    checked_status,
    job_id_of,
    no_payload,
)
from app.client.errors import ConnectionFailed, ServerError, TransferCorrupted
from app.client.keyring import Keyring
from app.client.result_files import place_result
from app.client.secure_channel import open_secure_channel
from app.protocol import ErrorCode, ErrorInfo, MessageEnd, PayloadChunk, RemoteProtocolError
from app.protocol.media_type import is_valid_media_type
from app.protocol.ops import safe_base_name
from app.protocol.secure import Cipher
from app.wire.exception_groups import sole_exception
from app.wire.payload_splice import buffered_payload, splice_rest_of_payload, worth_splicing
from app.wire.sockets import connect
from app.wire.stream import MessageStream
from app.wire.wait_guard import IdleGuard

ProgressCallback = Callable[[int], None]

CONNECT_TIMEOUT_S: Final = 15.0
# How long an answer may take once the request is sent (status long-polls add wait_s).
ANSWER_TIMEOUT_S: Final = 120.0
# Refusals of the encrypted layer carry their own advice (docs/security.md).
_SEALING_CODES: Final = (ErrorCode.BAD_HANDSHAKE, ErrorCode.BAD_RECORD, ErrorCode.TRUNCATED)


def media_type_for(path: Path) -> str:
    """The media type for an upload: the file's extension when valid, else `bin`.

    The server identifies media by probing, not by this name (SPEC §1).
    """
    ext = path.suffix.lstrip(".").lower()
    return ext if is_valid_media_type(ext) else "bin"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Download:
    path: Path
    answer: dict[str, Any]


def _raise_if_error(doc: dict[str, Any] | None) -> dict[str, Any]:
    if doc is None:
        raise ConnectionFailed(
            "The server closed the connection without answering.",
            "Check the server's log; it may be shutting down or overloaded.",
        )
    info = ErrorInfo.from_answer(doc)
    if info is not None:
        raise ServerError(info)
    return doc


class VcsClient:
    def __init__(
        self,
        address: ServerAddress,
        source_host: str | None = None,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
        *,
        encrypt: bool = True,
        keyring: Keyring | None = None,
        cipher: Cipher = Cipher.AES_256_GCM,
    ) -> None:
        """`encrypt` (the default) runs the key exchange of SPEC §6 on every connection,
        with `keyring` (default: the user's, under $XDG_CONFIG_HOME/vcs)."""
        self.address = address
        self.source_host = source_host
        self.answer_timeout_s = answer_timeout_s
        self.keyring = (keyring or Keyring.default()) if encrypt else None
        self.cipher = cipher

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[MessageStream]:
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                stream = await connect(self.address.host, self.address.port, self.source_host)
        except (OSError, trio.TooSlowError) as exc:
            raise ConnectionFailed(
                f"Cannot connect to vcs-serve at {self.address}: "
                f"{getattr(exc, 'strerror', None) or exc or 'timed out'}.",
                "Start the server (see README) or pass --server HOST:PORT (or set $VCS_SERVER).",
            ) from None
        ms = MessageStream(stream, idle_timeout_s=self.answer_timeout_s)
        try:
            if self.keyring is not None:
                secure = await open_secure_channel(
                    stream, self.keyring, self.address, self.answer_timeout_s, self.cipher
                )
                ms = MessageStream(secure, idle_timeout_s=self.answer_timeout_s)
            yield ms
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ConnectionFailed(
                f"The connection to {self.address} broke: {exc or type(exc).__name__}.",
                "Check that the server is still running, then try again.",
            ) from None
        except trio.TooSlowError:
            raise ConnectionFailed(
                f"The server at {self.address} stopped answering.",
                "Check the server's load and log, then try again.",
            ) from None
        except RemoteProtocolError as exc:
            raise ConnectionFailed(
                f"The server's answer broke the protocol: {exc.info.description}",
                exc.info.solution
                if exc.code in _SEALING_CODES
                else "Check that --server points at a vcs-serve MMP port.",
            ) from None
        finally:
            with trio.CancelScope(shield=True):
                await ms.aclose()

    async def _request(self, doc: dict[str, Any]) -> dict[str, Any]:
        async with self._connection() as ms:
            await ms.send_message(doc)
            return await _receive_answer(ms, str(doc["op"]))

    async def upload(
        self,
        op: str,
        path: Path,
        params: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        verify: bool = True,
    ) -> dict[str, Any]:
        """Send `path` for `op`; returns the `accepted` answer with the job id.

        The answer is read while the payload is still going out, so an early refusal
        (quota, one job per IP) stops the upload at once.
        """
        size = path.stat().st_size
        doc: dict[str, Any] = {"op": op, **(params or {}), "filename": path.name}
        if verify:
            doc["sha256"] = await trio.to_thread.run_sync(sha256_of, path)
        async with self._connection() as ms:
            send_failed: list[BaseException] = []

            async def send() -> None:
                try:
                    await ms.send_message(doc, media_type=media_type_for(path), payload_size=size)
                    with path.open("rb") as f:
                        await ms.send_file(f, size, progress)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    # The server closed early; its answer (if any) says why.
                    send_failed.append(exc)

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send)
                    # No answer timeout while our own payload is still going out.
                    ms.idle_timeout_s = float("inf")
                    answer = await _receive_answer(ms, op)
                    nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                raise sole_exception(group) from None
            job_id_of(answer)
            return answer

    async def status(self, job_id: str, wait_s: float = 0) -> dict[str, Any]:
        doc: dict[str, Any] = {"op": "status", "job_id": job_id}
        if wait_s > 0:
            doc["wait_s"] = wait_s
        return checked_status(await self._request(doc))

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return checked_cancel(await self._request({"op": "cancel", "job_id": job_id}))

    async def download(
        self,
        job_id: str,
        output: Path | None = None,
        progress: ProgressCallback | None = None,
        on_start: Callable[[dict[str, Any]], None] | None = None,
        *,
        overwrite: bool = False,
    ) -> Download:
        """Fetch a result into `output` (a file, or a directory for the server's name).

        Written to a hidden temp name and moved into place only once size and SHA-256
        match: a cancelled or broken download leaves no file behind. A name already
        taken gets a number (`name (1).ext`) unless `overwrite`.
        """
        async with self._connection() as ms:
            await ms.send_message({"op": "download", "job_id": job_id})
            head = await ms.receive_head()
            if head is None or head.payload_size == 0:
                if head is not None:
                    await ms.receive_end()
                _raise_if_error(head.json if head else None)
                raise ConnectionFailed(
                    "The server answered the download without a file.", "Try again."
                )
            checked = checked_download(head)
            answer = checked.doc
            target = output if output is not None else Path.cwd()
            if target.is_dir():
                fallback = f"{job_id}.{head.media_type}"
                target = target / (safe_base_name(checked.filename) or fallback)
            if on_start is not None:
                on_start(answer)
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            digest = hashlib.sha256()
            try:
                fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
                try:
                    await _receive_payload(ms, fd, digest, progress)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if digest.hexdigest() != checked.sha256:
                    raise TransferCorrupted(
                        "The downloaded file's SHA-256 differs from the server's "
                        f"({checked.sha256})."
                    )
                target = place_result(partial, target, overwrite=overwrite)
            finally:
                partial.unlink(missing_ok=True)
            return Download(target, answer)


async def _receive_answer(ms: MessageStream, request: str) -> dict[str, Any]:
    """The answer to a request, which carries no payload: a refusal raises ServerError."""
    head = await ms.receive_head()
    if head is not None:
        no_payload(head, request)
        await ms.receive_end()
    return _raise_if_error(head.json if head else None)


async def _receive_payload(
    ms: MessageStream, fd: int, digest: hashlib._Hash, progress: ProgressCallback | None
) -> None:
    """The current message's payload into `fd`, hashed: spliced on plain TCP (the bytes
    never enter Python), else chunk by chunk as the (sealed) stream opens them."""
    sock = worth_splicing(ms, ms.stream)
    if sock is not None:
        for chunk in buffered_payload(ms):
            _write_chunk(fd, chunk, digest, progress)
        guard = IdleGuard(ms.idle_timeout_s)
        await splice_rest_of_payload(ms, sock, fd, digest, guard, progress=progress)
        return
    while True:
        event = await ms.next_event()
        if isinstance(event, MessageEnd):
            return
        assert isinstance(event, PayloadChunk)
        _write_chunk(fd, event.data, digest, progress)


def _write_chunk(
    fd: int, chunk: bytes, digest: hashlib._Hash, progress: ProgressCallback | None
) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]
    digest.update(chunk)
    if progress is not None:
        progress(len(chunk))
