"""How the client reaches one server: a connection per request, or one kept for a job.

`Connector.open` connects (1,400-byte segments) and, by default, runs the key exchange
(SPEC §6). Outside a session every request opens its own connection, as a plaintext
client of the spec does. Inside `SharedConnection` (VcsClient.session) requests take
turns on one connection and one key exchange: a `vcs compress` job — upload, long
polls, download — costs one of each (SPEC §2.1 "Sessions"). The server closes a
connection after any error answer and after its idle timeout, so a connection that
failed is dropped and the next request opens another, waiting a little longer before
each try while the server is unreachable (it may be restarting), up to RECONNECT_DELAYS_S.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Final

import trio

from app.client.address import ServerAddress
from app.client.errors import ConnectionFailed, ServerKeyChanged
from app.client.keyring import Keyring
from app.client.secure_channel import open_secure_channel
from app.protocol import ErrorCode, RemoteProtocolError
from app.protocol.secure import Cipher
from app.wire.sockets import connect
from app.wire.stream import MessageStream

CONNECT_TIMEOUT_S: Final = 15.0
# Waits before each new try once a session's connection dropped: ~30 s in all.
RECONNECT_DELAYS_S: Final = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
# Refusals of the encrypted layer carry their own advice (docs/security.md).
_SEALING_CODES: Final = (ErrorCode.BAD_HANDSHAKE, ErrorCode.BAD_RECORD, ErrorCode.TRUNCATED)


async def connect_or_fail(
    address: ServerAddress, source_host: str | None, what: str, solution: str
) -> trio.SocketStream:
    """A TCP connection to `address` (1,400-byte segments), or ConnectionFailed saying
    why `what` cannot be reached."""
    try:
        with trio.fail_after(CONNECT_TIMEOUT_S):
            return await connect(address.host, address.port, source_host)
    except (OSError, trio.TooSlowError) as exc:
        raise ConnectionFailed(
            f"Cannot connect to {what} at {address}: "
            f"{getattr(exc, 'strerror', None) or exc or 'timed out'}.",
            solution,
        ) from None


class Connector:
    """Opens connections to one server, encrypted unless `keyring` is None."""

    def __init__(
        self,
        address: ServerAddress,
        source_host: str | None,
        answer_timeout_s: float,
        keyring: Keyring | None,
        cipher: Cipher,
    ) -> None:
        self.address = address
        self.source_host = source_host
        self.answer_timeout_s = answer_timeout_s
        self.keyring = keyring
        self.cipher = cipher
        self.connections_opened = 0

    async def open(self) -> MessageStream:
        stream = await connect_or_fail(
            self.address,
            self.source_host,
            "vcs-serve",
            "Start the server (see README) or pass --server HOST:PORT (or set $VCS_SERVER).",
        )
        self.connections_opened += 1
        ms = MessageStream(stream, idle_timeout_s=self.answer_timeout_s)
        if self.keyring is None:
            return ms
        try:
            with self.transfer_errors():
                secure = await open_secure_channel(
                    stream, self.keyring, self.address, self.answer_timeout_s, self.cipher
                )
        except BaseException:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            raise
        return MessageStream(secure, idle_timeout_s=self.answer_timeout_s)

    @contextlib.contextmanager
    def transfer_errors(self) -> Iterator[None]:
        """A broken, silent or garbled connection as the ConnectionFailed users read."""
        try:
            yield
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


def worth_retrying(exc: ConnectionFailed) -> bool:
    """A server that could not be reached or dropped us, as opposed to one we must not
    talk to (a changed key, an unusable key file)."""
    return not isinstance(exc, ServerKeyChanged) and exc.code is ErrorCode.INTERNAL


class SharedConnection:
    """One connection that requests take turns on; opened on first use, again (with
    backoff) after it dropped. A request that finds it busy gets a connection of its own
    (the TUI refreshes other jobs while one is long-polled)."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._ms: MessageStream | None = None
        self._dropped = False
        self._busy = False
        self._closing = False

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[tuple[MessageStream, bool]]:
        """(the stream, whether it served requests before: a stale one may have been
        closed by the server meanwhile). Any failure inside drops it."""
        if self._busy or self._closing:
            async with one_off(self._connector) as ms:
                yield ms, False
            return
        self._busy = True
        try:
            reused = self._ms is not None
            if self._ms is None:
                self._ms = await self._reopen() if self._dropped else await self._connector.open()
            ms = self._ms
            done = False
            try:
                with self._connector.transfer_errors():
                    yield ms, reused
                done = True
            finally:
                if not done:
                    self._dropped = True
                    await self._close()
        finally:
            self._busy = False
            if self._closing:
                await self._close()

    async def _reopen(self) -> MessageStream:
        for delay_s in RECONNECT_DELAYS_S:
            try:
                return await self._connector.open()
            except ConnectionFailed as exc:
                if not worth_retrying(exc):
                    raise
            await trio.sleep(delay_s)
        return await self._connector.open()

    async def close(self) -> None:
        """The session ends: close now, or when the request using it is done."""
        self._closing = True
        if not self._busy:
            await self._close()

    async def _close(self) -> None:
        ms, self._ms = self._ms, None
        if ms is not None:
            with trio.CancelScope(shield=True):
                await ms.aclose()


@contextlib.asynccontextmanager
async def one_off(connector: Connector) -> AsyncIterator[MessageStream]:
    """A connection for one request, closed after it (even when cancelled)."""
    ms = await connector.open()
    try:
        with connector.transfer_errors():
            yield ms
    finally:
        with trio.CancelScope(shield=True):
            await ms.aclose()
