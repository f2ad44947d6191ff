"""The key exchange that opens an encrypted MMP connection (SPEC §6, docs/security.md).

Three plaintext MMP messages, then sealed records both ways — the shape of TLS 1.3 and
SSH, with the RSA identities SPEC §6 asks for:

1. client → server  `{"op": "key_exchange", "version", "cipher", "client_key",
   "client_nonce", "client_share"}`: the client's long-term RSA key, a fresh nonce and a
   fresh ephemeral X25519 public key (its share).
2. server → client  `{"status": "key_exchange", "version", "cipher", "server_key",
   "server_nonce", "server_share", "signature"}`: the server's RSA key, nonce and
   ephemeral share, and its RSA-PSS signature over T, the hash of both hellos.
3. client → server  `{"op": "key_exchange_finish", "signature"}`: the client's RSA-PSS
   signature over the same T (another context string).

Both sides then compute the X25519 shared secret of the two ephemeral shares and derive
one content key per direction with HKDF-SHA256 over it, salted with the session id
H(T). Each side signs T, which holds the other's fresh nonce and share: a signature
proves the signer holds its key now, binds the ephemeral shares to the identities (no
one in the middle can swap a share) and cannot be replayed into another connection.
The ephemeral private keys live only for the handshake, so a recorded session cannot be
opened later even with both long-term RSA keys: forward secrecy. Sans-IO: keys in,
JSON documents and a Session out; the caller moves the documents, pins the server's key
and decides who may connect.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

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
# 2: ephemeral X25519 shares signed with the RSA keys (1 wrapped content keys with
# RSA-OAEP, without forward secrecy; no longer spoken).
VERSION: Final = 2
NONCE_SIZE: Final = 32
SHARE_SIZE: Final = 32
_MAX_RSA_BYTES: Final = MAX_RSA_KEY_BITS // 8
_LABEL: Final = b"vcs-mmp-e2e/2"
# Distinct contexts: a signature made for one role never passes as the other's.
_SERVER_SIGNS: Final = b"vcs server key exchange\x00"
_CLIENT_SIGNS: Final = b"vcs client key exchange\x00"
_KEYS_INFO: Final = b"vcs-mmp-e2e/2 content keys: client-to-server, server-to-client"


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


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
        raise bad_handshake(
            f"Key exchange version {version!r:.20} is not supported ({VERSION} is)."
        )
    cipher = doc.get("cipher")
    if cipher not in tuple(Cipher):
        known = ", ".join(Cipher)
        raise bad_handshake(f"Cipher {cipher!r:.40} is not supported ({known} are).")
    return Cipher(cipher)


def _fixed(doc: dict[str, Any], name: str, size: int) -> bytes:
    value = b64_field(doc, name, size)
    if len(value) != size:
        raise bad_handshake(f"The key exchange's {name!r} is not {size} bytes.")
    return value


def _new_share() -> tuple[x25519.X25519PrivateKey, bytes]:
    private = x25519.X25519PrivateKey.generate()
    return private, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _content_keys(
    private: x25519.X25519PrivateKey, peer_share: bytes, session_id: bytes
) -> tuple[bytes, bytes]:
    """(client→server key, server→client key) from the ephemeral secret."""
    try:
        shared = private.exchange(x25519.X25519PublicKey.from_public_bytes(peer_share))
    except ValueError:  # a low-order point: the shared secret would be all zeros
        raise bad_handshake("The peer's key share is not a usable X25519 key.") from None
    keys = HKDF(hashes.SHA256(), 2 * KEY_SIZE, session_id, _KEYS_INFO).derive(shared)
    return keys[:KEY_SIZE], keys[KEY_SIZE:]


def _verify(key: rsa.RSAPublicKey, signature: bytes, context: bytes, who: str) -> None:
    try:
        key.verify(signature, context, _pss(), hashes.SHA256())
    except InvalidSignature:
        raise bad_handshake(
            f"The {who}'s signature over the key exchange does not verify: it does not "
            "hold the key it presented, or the exchange was altered in transit."
        ) from None


@dataclass(frozen=True, slots=True)
class Session:
    """The outcome of a key exchange: one content key per direction, bound to the session."""

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


def _hello_fields(cipher: Cipher, der: bytes, nonce: bytes, share: bytes) -> list[bytes]:
    return [str(VERSION).encode(), str(cipher).encode(), der, nonce, share]


@dataclass(frozen=True, slots=True)
class _ServerHello:
    server_key: rsa.RSAPublicKey
    transcript: bytes
    share: bytes


class ClientHandshake:
    """The client's side: `hello()`, then `read_server_hello()`, pin check, `finish()`."""

    def __init__(self, client_key: rsa.RSAPrivateKey, cipher: Cipher = Cipher.AES_256_GCM):
        self._key = client_key
        self._der = public_key_der(client_key.public_key())
        self._nonce = secrets.token_bytes(NONCE_SIZE)
        self._share_key: x25519.X25519PrivateKey | None
        self._share_key, self._share = _new_share()
        self._cipher = cipher
        self._server: _ServerHello | None = None

    def hello(self) -> dict[str, Any]:
        return {
            "op": KEY_EXCHANGE_OP,
            "version": VERSION,
            "cipher": str(self._cipher),
            "client_key": _b64(self._der),
            "client_nonce": _b64(self._nonce),
            "client_share": _b64(self._share),
        }

    def read_server_hello(self, doc: dict[str, Any]) -> rsa.RSAPublicKey:
        """Check the server's answer and its signature; return the key to check the pin of.

        The signature covers our own key, nonce and share: it proves the server holds the
        private key *now*, and that nobody replaced our key or share on the way.
        """
        if doc.get("status") != KEY_EXCHANGE_OP:
            raise bad_handshake("The server did not answer the key exchange.")
        if _check_version_and_cipher(doc) is not self._cipher:
            raise bad_handshake("The server chose a cipher we did not propose.")
        server_key, server_der = public_key_from_wire(doc, "server_key")
        server_nonce = _fixed(doc, "server_nonce", NONCE_SIZE)
        server_share = _fixed(doc, "server_share", SHARE_SIZE)
        signature = b64_field(doc, "signature", _MAX_RSA_BYTES)
        transcript = _transcript(
            _LABEL,
            *_hello_fields(self._cipher, self._der, self._nonce, self._share),
            server_der,
            server_nonce,
            server_share,
        )
        _verify(server_key, signature, _SERVER_SIGNS + transcript, "server")
        self._server = _ServerHello(server_key, transcript, server_share)
        return server_key

    def finish(self) -> tuple[dict[str, Any], Session]:
        """Call once the server's key is trusted: the finish message and the session."""
        server, share_key = self._server, self._share_key
        if server is None or share_key is None:
            raise LocalProtocolError("finish() before read_server_hello(), or twice")
        session_id = _transcript(_LABEL, server.transcript)
        client_to_server, server_to_client = _content_keys(share_key, server.share, session_id)
        self._share_key = None  # the ephemeral secret is not kept past the handshake
        signature = self._key.sign(_CLIENT_SIGNS + server.transcript, _pss(), hashes.SHA256())
        doc = {"op": KEY_EXCHANGE_FINISH_OP, "signature": _b64(signature)}
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
    fields: list[bytes]
    share: bytes


class ServerHandshake:
    """The server's side: `read_hello(hello)` (the caller may refuse the client key
    there, before any private-key work), `respond()`, then `finish(finish_doc)`."""

    def __init__(self, server_key: rsa.RSAPrivateKey) -> None:
        self._key = server_key
        self._der = public_key_der(server_key.public_key())
        self._client: _ClientHello | None = None
        self._transcript: bytes | None = None
        self._share_key: x25519.X25519PrivateKey | None = None

    def read_hello(self, hello: dict[str, Any]) -> rsa.RSAPublicKey:
        """Check the client's hello (no private-key work); the key the client claims.

        The claim is proven only by `finish`: refuse on it, never admit on it alone.
        """
        cipher = _check_version_and_cipher(hello)
        client_key, client_der = public_key_from_wire(hello, "client_key")
        nonce = _fixed(hello, "client_nonce", NONCE_SIZE)
        share = _fixed(hello, "client_share", SHARE_SIZE)
        self._client = _ClientHello(
            client_key, cipher, _hello_fields(cipher, client_der, nonce, share), share
        )
        return client_key

    def respond(self) -> dict[str, Any]:
        """The server's hello, signed (one RSA private-key operation: run it in a thread)."""
        client = self._client
        if client is None:
            raise LocalProtocolError("respond() before read_hello()")
        nonce = secrets.token_bytes(NONCE_SIZE)
        self._share_key, share = _new_share()
        transcript = _transcript(_LABEL, *client.fields, self._der, nonce, share)
        signature = self._key.sign(_SERVER_SIGNS + transcript, _pss(), hashes.SHA256())
        self._transcript = transcript
        return {
            "status": KEY_EXCHANGE_OP,
            "version": VERSION,
            "cipher": str(client.cipher),
            "server_key": _b64(self._der),
            "server_nonce": _b64(nonce),
            "server_share": _b64(share),
            "signature": _b64(signature),
        }

    def finish(self, doc: dict[str, Any]) -> Session:
        """Check the client's proof of its key; the session both directions seal with."""
        client, transcript, share_key = self._client, self._transcript, self._share_key
        if client is None or transcript is None or share_key is None:
            raise LocalProtocolError("finish() before respond()")
        if doc.get("op") != KEY_EXCHANGE_FINISH_OP:
            raise bad_handshake(
                f"Expected {KEY_EXCHANGE_FINISH_OP!r} after the key exchange, "
                f"got op {doc.get('op')!r:.40}."
            )
        signature = b64_field(doc, "signature", _MAX_RSA_BYTES)
        _verify(client.client_key, signature, _CLIENT_SIGNS + transcript, "client")
        session_id = _transcript(_LABEL, transcript)
        client_to_server, server_to_client = _content_keys(share_key, client.share, session_id)
        self._share_key = None  # the ephemeral secret is not kept past the handshake
        return Session(
            client.cipher,
            session_id,
            client_to_server,
            server_to_client,
            client.client_key,
            is_client=False,
        )
