"""The client's side of the key exchange (SPEC §6): a socket in, a sealed stream out.

The steps are in app/protocol/secure/handshake.py and docs/security.md; here they meet
the network, the pinned keys and the errors a user reads.
"""

from __future__ import annotations

import trio

from app.client.address import ServerAddress
from app.client.errors import ConnectionFailed, ServerError
from app.client.keyring import Keyring
from app.protocol import ErrorCode, ErrorInfo
from app.protocol.secure import Cipher, ClientHandshake
from app.wire.key_files import KeyFileError
from app.wire.secure_stream import SecureStream
from app.wire.stream import MessageStream


async def open_secure_channel(
    transport: trio.abc.Stream,
    keyring: Keyring,
    address: ServerAddress,
    timeout_s: float,
    cipher: Cipher = Cipher.AES_256_GCM,
) -> SecureStream:
    """Exchange keys on a fresh connection; nothing but the key exchange is sent first.

    The server's key is checked against the pin only after its signature proves the
    server holds it, and our content key is wrapped to it only after both checks.
    """
    # Private-key work (first-use key generation, an unwrap, a signature) in threads:
    # a UI on the same loop keeps drawing.
    try:
        client_key = await trio.to_thread.run_sync(keyring.client_key)
    except KeyFileError as exc:  # a connection problem to callers (the TUI shows it)
        raise ConnectionFailed(exc.info.description, exc.info.solution, exc.code) from None
    handshake = ClientHandshake(client_key, cipher)
    ms = MessageStream(transport, idle_timeout_s=timeout_s)
    await ms.send_message(handshake.hello())
    answer = await ms.receive_message()
    if answer is None:
        raise ConnectionFailed(
            f"The server at {address} closed the connection during the key exchange.",
            "Check the server's log; it may be shutting down or overloaded.",
        )
    refusal = ErrorInfo.from_json(answer)
    if refusal is not None and refusal.code is ErrorCode.UNKNOWN_OP:
        raise ConnectionFailed(
            f"The server at {address} does not support encryption (see docs/security.md).",
            "Upgrade vcs-serve there; only if the network path is trusted, pass --no-encryption.",
        )
    if refusal is not None:
        raise ServerError(refusal)
    server_key = handshake.read_server_hello(answer)
    keyring.check_server(address, server_key)
    finish, session = await trio.to_thread.run_sync(handshake.finish)
    await ms.send_message(finish)
    return SecureStream(transport, session, ms.decoder.take_trailing_data())
