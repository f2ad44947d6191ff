"""The server's side of encrypted MMP (SPEC §6): the key exchange, and the plaintext policy.

A connection whose first message is `key_exchange` switches to sealed records after
three plaintext messages (app/protocol/secure/handshake.py); any other first message
is plaintext MMP, served unless `--require-encryption`. docs/security.md has the design.
"""

from __future__ import annotations

import logging
from functools import partial

import trio

from app.protocol import ErrorCode, MessageHead, VcsError
from app.protocol.secure import KEY_EXCHANGE_FINISH_OP, ServerHandshake
from app.protocol.secure.keys import bad_handshake
from app.server.requests import refuse_payload
from app.server.state import ServerState
from app.wire.secure_stream import SecureStream
from app.wire.stream import MessageStream

log = logging.getLogger(__name__)


def is_encrypted(ms: MessageStream) -> bool:
    return isinstance(ms.stream, SecureStream)


def refuse_plaintext(ms: MessageStream, state: ServerState) -> None:
    """Under --require-encryption, a plaintext request is refused before it is served."""
    if state.config.require_encryption and not is_encrypted(ms):
        raise VcsError(
            ErrorCode.ENCRYPTION_REQUIRED,
            "This server accepts only encrypted connections.",
            "Use the vcs client without --no-encryption, or start your connection with "
            "the key exchange described in docs/security.md.",
        )


async def accept_encryption(
    head: MessageHead, ms: MessageStream, state: ServerState
) -> MessageStream:
    """Run the key exchange that `head` opened; the message stream of the sealed session.

    The two RSA private-key operations (a signature, an unwrap: a few ms each) run in
    worker threads so that other connections keep moving.
    """
    if is_encrypted(ms):
        raise bad_handshake("The connection is already encrypted.")
    assert state.server_key is not None
    refuse_payload(head)
    await ms.receive_end()
    handshake = ServerHandshake(state.server_key)
    run = partial(trio.to_thread.run_sync, limiter=state.thread_limiter)
    await ms.send_message(await run(handshake.respond, head.json), head.dialect)
    finish = await ms.receive_head()
    if finish is None:
        raise bad_handshake(f"The connection closed before {KEY_EXCHANGE_FINISH_OP!r}.")
    refuse_payload(finish)
    await ms.receive_end()
    session = await run(handshake.finish, finish.json)
    secure = SecureStream(ms.stream, session, ms.decoder.take_trailing_data())
    log.debug("encrypted session, %s, client key %s", session.cipher, secure.peer_fingerprint)
    return MessageStream(secure, ms.idle_timeout_s)
