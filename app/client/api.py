"""A trio client for one vcs-serve: upload, status, download, cancel (docs/protocol.md).

Each call opens its own connection, unless it runs inside `async with client.session()`:
then calls take turns on one connection and one key exchange, reopened (with backoff)
if the server or the network drops it (app/client/connections.py); `vcs compress` and
the TUI hold a session per server for a whole job. Every answer is checked
(app/client/answers.py) before it is used; a download never replaces an existing file
unless asked (app/client/result_files.py).
"""

from __future__ import annotations

import contextlib
import hashlib
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
from app.client.connections import Connector, SharedConnection, one_off, worth_retrying
from app.client.errors import ConnectionFailed, ServerError, TransferCorrupted
from app.client.keyring import Keyring
from app.client.result_files import place_result
from app.files.atomic_write import AtomicFile
from app.protocol import ErrorInfo, MessageHead
from app.protocol.media_type import is_valid_media_type
from app.protocol.ops import safe_base_name
from app.protocol.secure import Cipher
from app.wire.exception_groups import sole_exception
from app.wire.payload_receive import receive_payload
from app.wire.stream import MessageStream

ProgressCallback = Callable[[int], None]

# How long an answer may take once the request is sent (status long-polls add wait_s).
ANSWER_TIMEOUT_S: Final = 120.0


def media_type_for(path: Path) -> str:
    """The media type for an upload: the file's extension when valid, else `bin`.

    The server identifies media by probing, not by this name (README.md).
    """
    ext = path.suffix.lstrip(".").lower()
    return ext if is_valid_media_type(ext) else "bin"


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
        """`encrypt` (the default) runs the key exchange (docs/security.md) on every
        connection, with `keyring` (default: the user's, under $XDG_CONFIG_HOME/vcs)."""
        self.address = address
        self.keyring = (keyring or Keyring.default()) if encrypt else None
        self._connector = Connector(address, source_host, answer_timeout_s, self.keyring, cipher)
        self._shared: SharedConnection | None = None

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[VcsClient]:
        """Within the block, this client's calls share one connection (nested: the same)."""
        if self._shared is not None:
            yield self
            return
        shared = SharedConnection(self._connector)
        self._shared = shared
        try:
            yield self
        finally:
            self._shared = None
            await shared.close()

    @property
    def connections_opened(self) -> int:
        """Connections (and so key exchanges) this client has opened so far."""
        return self._connector.connections_opened

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[tuple[MessageStream, bool]]:
        """A connection for one call: the session's (and whether it served calls before,
        so the server may have closed it since), or one of its own."""
        if self._shared is not None:
            async with self._shared.use() as (ms, reused):
                yield ms, reused
            return
        async with one_off(self._connector) as ms:
            yield ms, False

    async def _request(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Send a request without payload, return its answer; on a session's connection
        that the server closed while it sat idle, the request goes again on a new one
        (it cannot have been served: no answer came)."""
        for last_try in (False, True):
            reused = False
            try:
                async with self._connection() as (ms, reused):
                    await ms.send_message(doc)
                    head = await ms.receive_head()
                    if head is None and reused and not last_try:
                        raise _Stale
                    return await _answer(ms, head, str(doc["op"]))
            except (_Stale, ConnectionFailed) as exc:
                if last_try or not reused or not _stale(exc):
                    raise
        raise AssertionError("unreachable")

    async def upload(
        self,
        op: str,
        path: Path,
        params: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        verify: bool = True,
    ) -> dict[str, Any]:
        """Send `path` for `op`; returns the `accepted` answer with the job id.

        With `verify`, the file is hashed while it is sent (one read of it) and the
        SHA-256 follows the payload in a trailer, which the server checks before it
        keeps anything (docs/protocol.md). The answer is read while the payload is still
        going out, so an early refusal (quota, one job per IP) stops the upload at once.
        """
        size = path.stat().st_size
        doc: dict[str, Any] = {"op": op, **(params or {}), "filename": path.name}
        digest = hashlib.sha256() if verify else None
        if digest is not None:
            doc["trailer"] = "sha256"
        async with self._connection() as (ms, _):

            async def send() -> None:
                try:
                    await ms.send_message(doc, media_type=media_type_for(path), payload_size=size)
                    with path.open("rb") as f:
                        await ms.send_file(f, size, progress, digest)
                    if digest is not None:
                        await ms.send_message({"sha256": digest.hexdigest()})
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the server closed early; its answer (if any) says why

            answer_timeout_s = ms.idle_timeout_s
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send)
                    # No answer timeout while our own payload is still going out.
                    ms.idle_timeout_s = float("inf")
                    answer = await _answer(ms, await ms.receive_head(), op)
                    nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                raise sole_exception(group) from None
            finally:
                ms.idle_timeout_s = answer_timeout_s
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
        for last_try in (False, True):
            reused = got_head = False
            try:
                async with self._connection() as (ms, reused):
                    await ms.send_message({"op": "download", "job_id": job_id})
                    head = await ms.receive_head()
                    if head is None and reused and not last_try:
                        raise _Stale
                    got_head = True
                    return await _save_download(
                        ms, head, job_id, output, progress, on_start, overwrite
                    )
            except (_Stale, ConnectionFailed) as exc:
                if last_try or got_head or not reused or not _stale(exc):
                    raise
        raise AssertionError("unreachable")


class _Stale(Exception):
    """A session's connection ended before answering: the server closed it while idle."""


def _stale(exc: BaseException) -> bool:
    return isinstance(exc, _Stale) or (isinstance(exc, ConnectionFailed) and worth_retrying(exc))


async def _answer(ms: MessageStream, head: MessageHead | None, request: str) -> dict[str, Any]:
    """The answer to a request, which carries no payload: a refusal raises ServerError."""
    if head is not None:
        no_payload(head, request)
        await ms.receive_end()
    return _raise_if_error(head.json if head else None)


async def _save_download(
    ms: MessageStream,
    head: MessageHead | None,
    job_id: str,
    output: Path | None,
    progress: ProgressCallback | None,
    on_start: Callable[[dict[str, Any]], None] | None,
    overwrite: bool,
) -> Download:
    if head is None or head.payload_size == 0:
        if head is not None:
            await ms.receive_end()
        _raise_if_error(head.json if head else None)
        raise ConnectionFailed("The server answered the download without a file.", "Try again.")
    checked = checked_download(head)
    answer = checked.doc
    target = output if output is not None else Path.cwd()
    if target.is_dir():
        fallback = f"{job_id}.{head.media_type}"
        target = target / (safe_base_name(checked.filename) or fallback)
    if on_start is not None:
        on_start(answer)
    with AtomicFile(target.parent, hash_it=True, mode=0o666) as partial:
        await receive_payload(ms, partial, progress)
        if partial.hexdigest() != checked.sha256:
            raise TransferCorrupted(
                f"The downloaded file's SHA-256 differs from the server's ({checked.sha256})."
            )
        target = await trio.to_thread.run_sync(
            lambda: place_result(partial, target, overwrite=overwrite)
        )
    return Download(target, answer)
