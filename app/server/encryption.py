"""The server's side of encrypted MMP (SPEC §6): the key exchange, and the plaintext policy.

A connection whose first message is `key_exchange` switches to sealed records after
three plaintext messages (app/protocol/secure/handshake.py); any other first message
is plaintext MMP, served unless `--require-encryption` or `--authorized-keys`.
docs/security.md has the design.
"""

from __future__ import annotations

import logging

import trio

from app.protocol import ErrorCode, MessageHead, VcsError
from app.protocol.secure import KEY_EXCHANGE_FINISH_OP, ServerHandshake, fingerprint
from app.protocol.secure.keys import bad_handshake
from app.server.requests import refuse_payload
from app.server.state import ServerState
from app.wire.secure_stream import SecureStream
from app.wire.stream import MessageStream

log = logging.getLogger(__name__)


def is_encrypted(ms: MessageStream) -> bool:
    return isinstance(ms.stream, SecureStream)


def refuse_plaintext(ms: MessageStream, state: ServerState) -> None:
    """Under --require-encryption or --authorized-keys, plaintext requests are refused."""
    if state.config.plaintext_refused and not is_encrypted(ms):
        why = (
            "only listed client keys may use it"
            if state.config.authorized_keys_file is not None
            else "it accepts only encrypted connections"
        )
        raise VcsError(
            ErrorCode.ENCRYPTION_REQUIRED,
            f"This server refuses plaintext requests: {why}.",
            "Use the vcs client without --no-encryption, or start your connection with "
            "the key exchange described in docs/security.md.",
        )


def _not_authorized(key_fingerprint: str) -> VcsError:
    return VcsError(
        ErrorCode.KEY_NOT_AUTHORIZED,
        f"This server admits only the client keys its operator listed; yours "
        f"({key_fingerprint}) is not one of them.",
        f"Give the server's operator your key's fingerprint, {key_fingerprint} "
        "(`vcs keys` prints it), to add with "
        f"`vcs-serve keys add {key_fingerprint} --authorized-keys FILE`.",
    )


async def accept_encryption(
    head: MessageHead, ms: MessageStream, state: ServerState, ip: str
) -> MessageStream:
    """Run the key exchange that `head` opened; the message stream of the sealed session.

    Refusals come before any private-key work: the rate of key exchanges from `ip` and
    in all, then (with --authorized-keys) the key the hello claims. The one RSA
    private-key operation (the signature, a few ms) runs in a worker thread so that
    other connections keep moving. The client's key is admitted only once its
    signature over the exchange proves it holds it.
    """
    if is_encrypted(ms):
        raise bad_handshake("The connection is already encrypted.")
    assert state.server_key is not None
    if state.key_exchanges is not None and (refusal := state.key_exchanges.admit(ip)):
        raise VcsError(refusal.code, refusal.description, refusal.solution)
    refuse_payload(head)
    await ms.receive_end()
    handshake = ServerHandshake(state.server_key)
    claimed = fingerprint(handshake.read_hello(head.json))
    if state.authorized_keys is not None and state.authorized_keys.lookup(claimed) is None:
        log.info("refused the key %s from %s: not authorized", claimed, ip)
        raise _not_authorized(claimed)
    reply = await trio.to_thread.run_sync(handshake.respond, limiter=state.key_exchange_limiter)
    await ms.send_message(reply, head.dialect)
    finish = await ms.receive_head()
    if finish is None:
        raise bad_handshake(f"The connection closed before {KEY_EXCHANGE_FINISH_OP!r}.")
    refuse_payload(finish)
    await ms.receive_end()
    session = handshake.finish(finish.json)  # a verification and an X25519: ~0.2 ms
    secure = SecureStream(ms.stream, session, ms.decoder.take_trailing_data())
    log.debug("encrypted session, %s, client key %s", session.cipher, secure.peer_fingerprint)
    return MessageStream(secure, ms.idle_timeout_s)
