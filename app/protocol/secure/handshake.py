"""The key exchange that opens an encrypted MMP connection (SPEC §6, docs/security.md).

Three plaintext MMP messages, then sealed records both ways:

1. client → server  `{"op": "key_exchange", "version", "cipher", "client_key", "client_nonce"}`
2. server → client  `{"status": "key_exchange", "version", "cipher", "server_key",
   "server_nonce", "wrapped_key", "signature"}`: a fresh server→client content key
   wrapped with RSA-OAEP to the client's key, and an RSA-PSS signature over T1, the
   hash of everything exchanged so far.
3. client → server  `{"op": "key_exchange_finish", "wrapped_key", "signature"}`: a fresh
   client→server content key wrapped to the server's key, and the client's signature
   over T2 = hash(T1, that wrapped key).

Each side uses a peer's data only after checking the peer's signature over a transcript
that contains its own fresh nonce and key: nothing secret comes from unauthenticated
data alone. T2 is the session id every record is bound to. Sans-IO: keys in, JSON
documents and a Session out; the caller moves the documents and pins the server key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.protocol.errors import LocalProtocolError
from app.protocol.secure.keys import (
    MAX_RSA_KEY_BITS,
    b64_field,
    bad_handshake,
    public_key_der,
    public_key_from_wire,
)
from app.protocol.secure.records import (
    KEY_SIZE,
    ChannelKey,
    Cipher,
    Direction,
    RecordOpener,
    RecordSealer,
)

KEY_EXCHANGE_OP: Final = "key_exchange"
KEY_EXCHANGE_FINISH_OP: Final = "key_exchange_finish"
VERSION: Final = 1
NONCE_SIZE: Final = 32
_MAX_RSA_BYTES: Final = MAX_RSA_KEY_BITS // 8
_LABEL: Final = b"vcs-mmp-e2e/1"
# Distinct contexts: a signature or a wrapped key made for one role never passes as
# the other's.
_SERVER_SIGNS: Final = b"vcs server key exchange\x00"
_CLIENT_SIGNS: Final = b"vcs client key exchange\x00"
_C2S_LABEL: Final = b"vcs client-to-server content key"
_S2C_LABEL: Final = b"vcs server-to-client content key"


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def _transcript(*fields: bytes) -> bytes:
    """SHA-256 over length-prefixed fields: no two field lists hash the same input."""
    digest = hashlib.sha256()
    for item in fields:
        digest.update(len(item).to_bytes(4, "big"))
        digest.update(item)
    return digest.digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def is_key_exchange(doc: dict[str, Any]) -> bool:
    """True for the first message of an encrypted connection."""
    return doc.get("op") == KEY_EXCHANGE_OP


def _check_version_and_cipher(doc: dict[str, Any]) -> Cipher:
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):
        raise bad_handshake(f"Key exchange version {version!r:.20} is not supported (1 is).")
    cipher = doc.get("cipher")
    if cipher not in tuple(Cipher):
        known = ", ".join(Cipher)
        raise bad_handshake(f"Cipher {cipher!r:.40} is not supported ({known} are).")
    return Cipher(cipher)


def _nonce(doc: dict[str, Any], name: str) -> bytes:
    value = b64_field(doc, name, NONCE_SIZE)
    if len(value) != NONCE_SIZE:
        raise bad_handshake(f"The key exchange's {name!r} is not {NONCE_SIZE} bytes.")
    return value


def _unwrap(key: rsa.RSAPrivateKey, wrapped: bytes, label: bytes) -> bytes:
    try:
        content_key = key.decrypt(wrapped, _oaep(label))
    except ValueError:
        content_key = b""
    if len(content_key) != KEY_SIZE:
        raise bad_handshake("The wrapped content key does not open with our private key.")
    return content_key


@dataclass(frozen=True, slots=True)
class Session:
    """The outcome of a key exchange: one content key per direction, bound to T2."""

    cipher: Cipher
    session_id: bytes
    client_to_server_key: bytes = field(repr=False)
    server_to_client_key: bytes = field(repr=False)
    peer_key: rsa.RSAPublicKey
    is_client: bool

    def _channel(self, direction: Direction) -> ChannelKey:
        key = (
            self.client_to_server_key
            if direction is Direction.CLIENT_TO_SERVER
            else self.server_to_client_key
        )
        return ChannelKey(self.cipher, key, self.session_id, direction)

    def sealer(self) -> RecordSealer:
        outgoing = Direction.CLIENT_TO_SERVER if self.is_client else Direction.SERVER_TO_CLIENT
        return RecordSealer(self._channel(outgoing))

    def opener(self) -> RecordOpener:
        incoming = Direction.SERVER_TO_CLIENT if self.is_client else Direction.CLIENT_TO_SERVER
        return RecordOpener(self._channel(incoming))


@dataclass(frozen=True, slots=True)
class _ServerHello:
    server_key: rsa.RSAPublicKey
    transcript: bytes
    wrapped_key: bytes


class ClientHandshake:
    """The client's side: `hello()`, then `read_server_hello()`, pin check, `finish()`."""

    def __init__(self, client_key: rsa.RSAPrivateKey, cipher: Cipher = Cipher.AES_256_GCM):
        self._key = client_key
        self._der = public_key_der(client_key.public_key())
        self._nonce = secrets.token_bytes(NONCE_SIZE)
        self._cipher = cipher
        self._server: _ServerHello | None = None

    def hello(self) -> dict[str, Any]:
        return {
            "op": KEY_EXCHANGE_OP,
            "version": VERSION,
            "cipher": str(self._cipher),
            "client_key": _b64(self._der),
            "client_nonce": _b64(self._nonce),
        }

    def read_server_hello(self, doc: dict[str, Any]) -> rsa.RSAPublicKey:
        """Check the server's answer and its signature; return the key to check the pin of.

        The signature covers our own key and nonce: it proves the server holds the
        private key *now*, and that nobody replaced our key on the way.
        """
        if doc.get("status") != KEY_EXCHANGE_OP:
            raise bad_handshake("The server did not answer the key exchange.")
        if _check_version_and_cipher(doc) is not self._cipher:
            raise bad_handshake("The server chose a cipher we did not propose.")
        server_key, server_der = public_key_from_wire(doc, "server_key")
        server_nonce = _nonce(doc, "server_nonce")
        wrapped = b64_field(doc, "wrapped_key", _MAX_RSA_BYTES)
        signature = b64_field(doc, "signature", _MAX_RSA_BYTES)
        transcript = _transcript(
            _LABEL,
            str(VERSION).encode(),
            str(self._cipher).encode(),
            self._der,
            self._nonce,
            server_der,
            server_nonce,
            wrapped,
        )
        try:
            server_key.verify(signature, _SERVER_SIGNS + transcript, _pss(), hashes.SHA256())
        except InvalidSignature:
            raise bad_handshake(
                "The server's signature over the key exchange does not verify: it does not "
                "hold the key it presented, or the exchange was altered in transit."
            ) from None
        self._server = _ServerHello(server_key, transcript, wrapped)
        return server_key

    def finish(self) -> tuple[dict[str, Any], Session]:
        """Call once the server's key is trusted: the finish message and the session."""
        server = self._server
        if server is None:
            raise LocalProtocolError("finish() before read_server_hello()")
        server_to_client = _unwrap(self._key, server.wrapped_key, _S2C_LABEL)
        client_to_server = secrets.token_bytes(KEY_SIZE)
        wrapped = server.server_key.encrypt(client_to_server, _oaep(_C2S_LABEL))
        session_id = _transcript(_LABEL, server.transcript, wrapped)
        signature = self._key.sign(_CLIENT_SIGNS + session_id, _pss(), hashes.SHA256())
        doc = {
            "op": KEY_EXCHANGE_FINISH_OP,
            "wrapped_key": _b64(wrapped),
            "signature": _b64(signature),
        }
        session = Session(
            self._cipher,
            session_id,
            client_to_server,
            server_to_client,
            server.server_key,
            is_client=True,
        )
        return doc, session


@dataclass(frozen=True, slots=True)
class _ClientHello:
    client_key: rsa.RSAPublicKey
    cipher: Cipher
    transcript: bytes
    server_to_client_key: bytes = field(repr=False)


class ServerHandshake:
    """The server's side: `respond(hello)`, then `finish(finish_doc)`."""

    def __init__(self, server_key: rsa.RSAPrivateKey) -> None:
        self._key = server_key
        self._der = public_key_der(server_key.public_key())
        self._client: _ClientHello | None = None

    def respond(self, hello: dict[str, Any]) -> dict[str, Any]:
        cipher = _check_version_and_cipher(hello)
        client_key, client_der = public_key_from_wire(hello, "client_key")
        client_nonce = _nonce(hello, "client_nonce")
        server_nonce = secrets.token_bytes(NONCE_SIZE)
        server_to_client = secrets.token_bytes(KEY_SIZE)
        wrapped = client_key.encrypt(server_to_client, _oaep(_S2C_LABEL))
        transcript = _transcript(
            _LABEL,
            str(VERSION).encode(),
            str(cipher).encode(),
            client_der,
            client_nonce,
            self._der,
            server_nonce,
            wrapped,
        )
        signature = self._key.sign(_SERVER_SIGNS + transcript, _pss(), hashes.SHA256())
        self._client = _ClientHello(client_key, cipher, transcript, server_to_client)
        return {
            "status": KEY_EXCHANGE_OP,
            "version": VERSION,
            "cipher": str(cipher),
            "server_key": _b64(self._der),
            "server_nonce": _b64(server_nonce),
            "wrapped_key": _b64(wrapped),
            "signature": _b64(signature),
        }

    def finish(self, doc: dict[str, Any]) -> Session:
        """Check the client's proof of its key; the session both directions seal with."""
        client = self._client
        if client is None:
            raise LocalProtocolError("finish() before respond()")
        if doc.get("op") != KEY_EXCHANGE_FINISH_OP:
            raise bad_handshake(
                f"Expected {KEY_EXCHANGE_FINISH_OP!r} after the key exchange, "
                f"got op {doc.get('op')!r:.40}."
            )
        wrapped = b64_field(doc, "wrapped_key", _MAX_RSA_BYTES)
        signature = b64_field(doc, "signature", _MAX_RSA_BYTES)
        session_id = _transcript(_LABEL, client.transcript, wrapped)
        try:
            client.client_key.verify(signature, _CLIENT_SIGNS + session_id, _pss(), hashes.SHA256())
        except InvalidSignature:
            raise bad_handshake(
                "The client's signature over the key exchange does not verify: it does not "
                "hold the key it presented, or the exchange was altered in transit."
            ) from None
        client_to_server = _unwrap(self._key, wrapped, _C2S_LABEL)
        return Session(
            client.cipher,
            session_id,
            client_to_server,
            client.server_to_client_key,
            client.client_key,
            is_client=False,
        )
