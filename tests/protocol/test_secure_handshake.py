"""The key exchange (SPEC §6): each side trusts only what the other proved with its key,
and a recorded session stays closed even to whoever later gets both long-term keys."""

from __future__ import annotations

import base64
import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
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


def answer(server_key: rsa.RSAPrivateKey, hello: dict[str, Any]) -> dict[str, Any]:
    server = ServerHandshake(server_key)
    server.read_hello(hello)
    return server.respond()


def recorded_session(client_key, server_key) -> tuple[list[dict[str, Any]], bytes]:
    """The three handshake messages and the records of one request, as a capture has them."""
    client, server = ClientHandshake(client_key), ServerHandshake(server_key)
    hello = client.hello()
    server.read_hello(copy.deepcopy(hello))
    reply = server.respond()
    client.read_server_hello(reply)
    finish, session = client.finish()
    server.finish(finish)
    sealer = session.sealer()
    return [hello, reply, finish], sealer.seal(b'{"op": "status", "job_id": "secret"}')


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


def test_each_connection_gets_fresh_ephemeral_shares_and_keys(client_key, server_key) -> None:
    (hello1, reply1, _), _ = recorded_session(client_key, server_key)
    (hello2, reply2, _), _ = recorded_session(client_key, server_key)
    assert hello1["client_share"] != hello2["client_share"]
    assert reply1["server_share"] != reply2["server_share"]
    first, _ = exchange(client_key, server_key)
    second, _ = exchange(client_key, server_key)
    assert first.session_id != second.session_id
    assert first.client_to_server_key != second.client_to_server_key
    assert first.server_to_client_key != second.server_to_client_key


def test_a_recorded_session_does_not_open_with_the_long_term_keys(client_key, server_key):
    """Forward secrecy: an attacker who recorded a session and later stole both private
    keys can neither unwrap a content key (none travels) nor redo the server's side of
    the exchange (its ephemeral share is gone, and a new one gives other keys)."""
    (hello, reply, finish), sealed_request = recorded_session(client_key, server_key)
    for doc in (hello, reply, finish):
        for value in doc.values():
            if not isinstance(value, str) or len(value) < 40:
                continue
            raw = base64.b64decode(value)
            for key in (client_key, server_key):
                for label in (None, b"vcs client-to-server content key"):
                    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), label)
                    with pytest.raises(ValueError):  # nothing is wrapped to either key
                        key.decrypt(raw, oaep)
    # Redo the server's side on the recorded hello with the stolen server key, and the
    # client's signature on the recorded finish: the transcript differs (a new share),
    # so the finish is refused; and the keys it would give do not open the records.
    replay = ServerHandshake(server_key)
    replay.read_hello(copy.deepcopy(hello))
    replay.respond()
    with refused():
        replay.finish(copy.deepcopy(finish))
    _, server_session = exchange(client_key, server_key)  # both keys, a new exchange
    opener = server_session.opener()
    opener.feed(sealed_request)
    with refused(ErrorCode.BAD_RECORD):
        opener.next_record()


def test_a_swapped_client_key_is_caught_by_the_client(client_key, server_key) -> None:
    """A man in the middle puts its own key in the hello to read the server's answers."""
    client = ClientHandshake(client_key)
    hello = client.hello()
    hello["client_key"] = public_key_to_wire(server_key.public_key())  # any key it holds
    with refused():
        client.read_server_hello(answer(server_key, hello))


def test_a_swapped_share_is_caught_by_both_sides(client_key, server_key) -> None:
    """A man in the middle swaps the ephemeral shares for its own to read the session."""
    client = ClientHandshake(client_key)
    hello = client.hello()
    hello["client_share"] = ClientHandshake(client_key).hello()["client_share"]
    with refused():
        client.read_server_hello(answer(server_key, hello))


@pytest.mark.parametrize("field", ["server_nonce", "server_share", "signature", "server_key"])
def test_an_altered_server_answer_is_refused(client_key, server_key, field: str) -> None:
    client = ClientHandshake(client_key)
    reply = answer(server_key, client.hello())
    reply[field] = flip_b64(reply[field])
    with refused():
        client.read_server_hello(reply)


def test_a_server_key_without_its_private_half_is_refused(client_key, server_key) -> None:
    """An impostor replays a real server's public key, signing with another key."""
    client = ClientHandshake(client_key)
    reply = answer(client_key, client.hello())  # signed by another key
    reply["server_key"] = public_key_to_wire(server_key.public_key())
    with refused():
        client.read_server_hello(reply)


def test_an_altered_finish_is_refused(client_key, server_key) -> None:
    client, server = ClientHandshake(client_key), ServerHandshake(server_key)
    server.read_hello(client.hello())
    client.read_server_hello(server.respond())
    finish, _ = client.finish()
    finish["signature"] = flip_b64(finish["signature"])
    with refused():
        server.finish(finish)


def test_a_recorded_finish_does_not_open_a_new_connection(client_key, server_key) -> None:
    """Replaying a whole recorded client side fails: the server's nonce is new each time."""
    (hello, _, recorded_finish), _ = recorded_session(client_key, server_key)
    replayed = ServerHandshake(server_key)
    replayed.read_hello(copy.deepcopy(hello))
    replayed.respond()
    with refused():
        replayed.finish(recorded_finish)


def test_a_recorded_server_answer_does_not_fool_a_new_client(client_key, server_key) -> None:
    (_, recorded_reply, _), _ = recorded_session(client_key, server_key)
    with refused():
        ClientHandshake(client_key).read_server_hello(recorded_reply)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 1),
        ("version", True),
        ("cipher", "rc4"),
        ("client_key", "bm90IGEga2V5"),
        ("client_key", 17),
        ("client_nonce", "c2hvcnQ="),
        ("client_nonce", "not base64!"),
        ("client_share", "c2hvcnQ="),
        ("client_share", base64.b64encode(bytes(32)).decode()),  # a low-order point
    ],
)
def test_malformed_hellos_are_refused(client_key, server_key, field: str, value) -> None:
    client = ClientHandshake(client_key)
    hello = client.hello()
    hello[field] = value
    with refused():
        server = ServerHandshake(server_key)
        server.read_hello(hello)
        client.read_server_hello(server.respond())
        server.finish(client.finish()[0])


def test_weak_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    hello = ClientHandshake(weak).hello()
    with pytest.raises(RemoteProtocolError, match="2048 bits"):
        ServerHandshake(weak).read_hello(hello)
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
        st.sampled_from(["version", "cipher", "client_key", "client_nonce", "client_share", "op"]),
        JSON_VALUES,
    )
)
def test_any_hello_is_answered_or_refused(server_key, fields: dict) -> None:
    hello = {"op": "key_exchange", "version": 2, "cipher": "aes-256-gcm", **fields}
    with contextlib.suppress(RemoteProtocolError):
        answer(server_key, hello)
