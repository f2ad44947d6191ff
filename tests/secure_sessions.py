"""A completed key exchange between two in-memory parties, for tests below the network."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from app.protocol.secure import ClientHandshake, ServerHandshake, Session


def exchange(
    client_key: rsa.RSAPrivateKey, server_key: rsa.RSAPrivateKey
) -> tuple[Session, Session]:
    """(client's session, server's session) after the three handshake messages."""
    client, server = ClientHandshake(client_key), ServerHandshake(server_key)
    server.read_hello(client.hello())
    reply = server.respond()
    presented = client.read_server_hello(reply)
    assert presented.public_numbers() == server_key.public_key().public_numbers()
    finish, client_session = client.finish()
    return client_session, server.finish(finish)
