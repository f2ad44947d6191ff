"""RSA keys as the handshake uses them: the size policy, the wire form and fingerprints.

Pure functions on bytes and key objects; reading and writing key files is the wire
layer's job (app/wire/key_files.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.protocol.errors import ErrorCode, RemoteProtocolError

# SPEC §6 / issue 8: RSA of at least 3,072 bits (about 128-bit security, NIST SP 800-57).
RSA_KEY_BITS: Final = 3072
MIN_RSA_KEY_BITS: Final = 3072
# A peer's key costs us one OAEP encryption and one PSS verification; bounding its size
# bounds that CPU (and the JSON it travels in).
MAX_RSA_KEY_BITS: Final = 8192
RSA_PUBLIC_EXPONENT: Final = 65537
# How a fingerprint is written (`fingerprint` below): what users copy between machines.
FINGERPRINT_RE: Final = re.compile(r"SHA256:[A-Za-z0-9+/]{43}", re.ASCII)


def generate_private_key() -> rsa.RSAPrivateKey:
    """A new key pair (about a second of CPU for 3,072 bits)."""
    return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_KEY_BITS)


def private_key_to_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_key_from_pem(data: bytes) -> rsa.RSAPrivateKey:
    """Parse an unencrypted PEM private key; ValueError unless it is RSA of an allowed size."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (TypeError, UnsupportedAlgorithm) as exc:  # encrypted, or an unknown algorithm
        raise ValueError(str(exc)) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"not an RSA key but {type(key).__name__}")
    check_key_size(key.key_size)
    return key


def check_key_size(bits: int) -> None:
    if not MIN_RSA_KEY_BITS <= bits <= MAX_RSA_KEY_BITS:
        raise ValueError(
            f"an RSA key of {bits} bits; {MIN_RSA_KEY_BITS}..{MAX_RSA_KEY_BITS} are allowed"
        )


def public_key_der(key: rsa.RSAPublicKey) -> bytes:
    """The key's X.509 SubjectPublicKeyInfo (DER): what is sent, hashed and pinned."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_to_wire(key: rsa.RSAPublicKey) -> str:
    return base64.b64encode(public_key_der(key)).decode("ascii")


def bad_handshake(description: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        ErrorCode.BAD_HANDSHAKE,
        description,
        "Use a vcs client or server of the same version; if the problem stays, something "
        "on the network path may be altering the connection.",
    )


def b64_field(doc: dict[str, object], name: str, max_bytes: int) -> bytes:
    """A base64 field of a handshake message, decoded; refused when missing or malformed."""
    value = doc.get(name)
    if not isinstance(value, str) or len(value) > 4 * (max_bytes // 3 + 1):
        raise bad_handshake(f"The key exchange's {name!r} is missing or too long.")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise bad_handshake(f"The key exchange's {name!r} is not valid base64.") from None


def public_key_from_wire(doc: dict[str, object], name: str) -> tuple[rsa.RSAPublicKey, bytes]:
    """The peer's RSA public key from a handshake field, with its DER bytes."""
    der = b64_field(doc, name, MAX_RSA_KEY_BITS // 4)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise bad_handshake(f"The key exchange's {name!r} is not a public key.") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise bad_handshake(f"The key exchange's {name!r} is not an RSA key.")
    try:
        check_key_size(key.key_size)
    except ValueError as exc:
        raise bad_handshake(f"The key exchange's {name!r} is {exc}.") from None
    # Re-encoding must give the same bytes: the transcript hashes one canonical form.
    if public_key_der(key) != der:
        raise bad_handshake(f"The key exchange's {name!r} is not in canonical DER form.")
    return key, der


def fingerprint(key: rsa.RSAPublicKey) -> str:
    """`SHA256:` + unpadded base64 of the SHA-256 of the key's DER, as SSH prints them."""
    return fingerprint_of_der(public_key_der(key))


def fingerprint_of_der(der: bytes) -> str:
    digest = hashlib.sha256(der).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def public_key_from_text(text: str) -> rsa.RSAPublicKey:
    """An RSA public key written as one line of base64 DER (as `vcs keys --public` prints
    it); ValueError unless it is RSA of an allowed size."""
    try:
        der = base64.b64decode(text.encode("ascii"), validate=True)
        key = serialization.load_der_public_key(der)
    except (binascii.Error, UnicodeEncodeError, ValueError, UnsupportedAlgorithm):
        raise ValueError("not a base64 DER public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"not an RSA key but {type(key).__name__}")
    check_key_size(key.key_size)
    return key
