"""The key exchange (SPEC §6): each side trusts only what the other proved with its key."""

from __future__ import annotations

import base64
import contextlib
import copy
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from app.protocol import ConnectionClosed, ErrorCode, RemoteProtocolError
from app.protocol.secure import ClientHandshake, ServerHandshake, fingerprint
from app.protocol.secure.keys import private_key_from_pem, private_key_to_pem, public_key_to_wire
from tests.secure_sessions import exchange


def flip_b64(value: str) -> str:
    """The same field with one bit of its decoded bytes flipped."""
    raw = bytearray(base64.b64decode(value))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(raw).decode()


@contextlib.contextmanager
def refused(code: ErrorCode = ErrorCode.BAD_HANDSHAKE) -> Iterator[None]:
    with pytest.raises(RemoteProtocolError) as info:
        yield
    assert info.value.code is code


def test_both_sides_end_with_the_same_session(client_key, server_key) -> None:
    client_session, server_session = exchange(client_key, server_key)
    assert client_session.session_id == server_session.session_id
    assert fingerprint(server_session.peer_key) == fingerprint(client_key.public_key())
    for sender, receiver in ((client_session, server_session), (server_session, client_session)):
        sealer, opener = sender.sealer(), receiver.opener()
        opener.feed(sealer.seal(b"hello") + sealer.seal_close())
        assert opener.next_record() == b"hello"
        assert isinstance(opener.next_record(), ConnectionClosed)
    # A session's repr never shows its content keys.
    assert client_session.client_to_server_key.hex() not in repr(client_session)


def test_each_connection_gets_fresh_keys(client_key, server_key) -> None:
    first, _ = exchange(client_key, server_key)
    second, _ = exchange(client_key, server_key)
    assert first.session_id != second.session_id
    assert first.client_to_server_key != second.client_to_server_key
    assert first.server_to_client_key != second.server_to_client_key


def test_a_swapped_client_key_is_caught_by_the_client(client_key, server_key) -> None:
    """A man in the middle puts its own key in the hello to read the server's answers."""
    client = ClientHandshake(client_key)
    hello = client.hello()
    hello["client_key"] = public_key_to_wire(server_key.public_key())  # any key it holds
    reply = ServerHandshake(server_key).respond(hello)
    with refused():
        client.read_server_hello(reply)


@pytest.mark.parametrize("field", ["server_nonce", "wrapped_key", "signature", "server_key"])
def test_an_altered_server_answer_is_refused(client_key, server_key, field: str) -> None:
    client = ClientHandshake(client_key)
    reply = ServerHandshake(server_key).respond(client.hello())
    reply[field] = flip_b64(reply[field])
    with refused():
        client.read_server_hello(reply)


def test_a_server_key_without_its_private_half_is_refused(client_key, server_key) -> None:
    """An impostor replays a real server's public key, signing with another key."""
    client = ClientHandshake(client_key)
    reply = ServerHandshake(client_key).respond(client.hello())  # signed by another key
    reply["server_key"] = public_key_to_wire(server_key.public_key())
    with refused():
        client.read_server_hello(reply)


@pytest.mark.parametrize("field", ["wrapped_key", "signature"])
def test_an_altered_finish_is_refused(client_key, server_key, field: str) -> None:
    client, server = ClientHandshake(client_key), ServerHandshake(server_key)
    client.read_server_hello(server.respond(client.hello()))
    finish, _ = client.finish()
    finish[field] = flip_b64(finish[field])
    with refused():
        server.finish(finish)


def test_a_recorded_finish_does_not_open_a_new_connection(client_key, server_key) -> None:
    """Replaying a whole recorded client side fails: the server's nonce is new each time."""
    client, server = ClientHandshake(client_key), ServerHandshake(server_key)
    hello = client.hello()
    client.read_server_hello(server.respond(hello))
    recorded_finish, _ = client.finish()
    replayed = ServerHandshake(server_key)
    replayed.respond(copy.deepcopy(hello))
    with refused():
        replayed.finish(recorded_finish)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 2),
        ("version", True),
        ("cipher", "rc4"),
        ("client_key", "bm90IGEga2V5"),
        ("client_key", 17),
        ("client_nonce", "c2hvcnQ="),
        ("client_nonce", "not base64!"),
    ],
)
def test_malformed_hellos_are_refused(client_key, server_key, field: str, value) -> None:
    hello = ClientHandshake(client_key).hello()
    hello[field] = value
    with refused():
        ServerHandshake(server_key).respond(hello)


def test_weak_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    hello = ClientHandshake(weak).hello()
    with pytest.raises(RemoteProtocolError, match="2048 bits"):
        ServerHandshake(weak).respond(hello)
    with pytest.raises(ValueError, match="2048 bits"):
        private_key_from_pem(private_key_to_pem(weak))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["version", "cipher", "client_key", "client_nonce", "op"]), JSON_VALUES
    )
)
def test_any_hello_is_answered_or_refused(server_key, fields: dict) -> None:
    hello = {"op": "key_exchange", "version": 1, "cipher": "aes-256-gcm", **fields}
    with contextlib.suppress(RemoteProtocolError):
        ServerHandshake(server_key).respond(hello)
