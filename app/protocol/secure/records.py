"""Sealed records: the byte stream after a key exchange, cut in authenticated chunks.

A record is `length (2 bytes) | type (1 byte) | AEAD ciphertext and 16-byte tag`,
`length` counting the ciphertext and tag. Nonce: direction (1 byte), 3 zero bytes,
then the record's sequence number (8 bytes, big-endian): each direction has its own
fresh key and counts from 0, so a nonce never repeats under a key. The associated
data binds every record to its session (the handshake's transcript hash), direction,
sequence number and header: a record altered, dropped, replayed, reordered or moved
to another connection fails to open. A CLOSE record ends the stream, so a cut
(truncation) is told apart from a close. See docs/security.md.

Sans-IO, in the style of app.protocol.decoder: the sealer turns bytes into records,
the opener is fed bytes and returns plaintext chunks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from app.protocol import limits
from app.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from app.protocol.events import NEED_DATA, ConnectionClosed, NeedData

HEADER_SIZE: Final = 3
TAG_SIZE: Final = 16
RECORD_OVERHEAD: Final = HEADER_SIZE + TAG_SIZE
# A full record is exactly 12 packets of SPEC §2 (16,800 bytes, close to TLS's 16 KiB):
# a batch of full records is a whole number of 1,400-byte units, and the 19 bytes of
# overhead cost 0.1 %. bench/crypto.py measures other sizes (one unit per record costs
# about 5x more CPU per byte).
RECORD_UNITS: Final = 12
MAX_RECORD_SIZE: Final = RECORD_UNITS * limits.PACKET_SIZE
MAX_PLAINTEXT: Final = MAX_RECORD_SIZE - RECORD_OVERHEAD
MAX_SEQUENCE: Final = 2**64 - 1
KEY_SIZE: Final = 32
SESSION_ID_SIZE: Final = 32


class Cipher(enum.StrEnum):
    """The record ciphers; the client proposes, the transcript pins the choice."""

    AES_256_GCM = "aes-256-gcm"
    CHACHA20_POLY1305 = "chacha20-poly1305"


class Direction(enum.IntEnum):
    CLIENT_TO_SERVER = 1
    SERVER_TO_CLIENT = 2


class RecordType(enum.IntEnum):
    DATA = 0
    CLOSE = 1


@dataclass(frozen=True, slots=True)
class ChannelKey:
    """Everything one direction of a session seals or opens with."""

    cipher: Cipher
    key: bytes
    session_id: bytes
    direction: Direction

    def __post_init__(self) -> None:
        if len(self.key) != KEY_SIZE or len(self.session_id) != SESSION_ID_SIZE:
            raise LocalProtocolError("a channel needs a 32-byte key and session id")

    def aead(self) -> AESGCM | ChaCha20Poly1305:
        if self.cipher is Cipher.AES_256_GCM:
            return AESGCM(self.key)
        return ChaCha20Poly1305(self.key)

    def nonce_prefix(self) -> bytes:
        return bytes([self.direction, 0, 0, 0])

    def aad_prefix(self) -> bytes:
        return self.session_id + bytes([self.direction])


def bad_record(description: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        ErrorCode.BAD_RECORD,
        description,
        "Nothing from this request was kept. Try again; if it repeats, something on the "
        "network path is altering the connection.",
    )


class RecordSealer:
    """Seals outgoing bytes into records, numbering them from 0."""

    def __init__(self, channel: ChannelKey) -> None:
        self._aead = channel.aead()
        self._nonce_prefix = channel.nonce_prefix()
        self._aad_prefix = channel.aad_prefix()
        self._sequence = 0
        self._closed = False

    @property
    def records_sealed(self) -> int:
        return self._sequence

    def seal(self, data: bytes | bytearray | memoryview) -> bytes:
        """DATA records for `data`: full ones of MAX_PLAINTEXT bytes, then the rest."""
        view = memoryview(data).cast("B")
        parts: list[bytes] = []
        for start in range(0, len(view), MAX_PLAINTEXT):
            self._seal_one(RecordType.DATA, view[start : start + MAX_PLAINTEXT], parts)
        return b"".join(parts)

    def seal_close(self) -> bytes:
        """The CLOSE record; nothing can be sealed after it."""
        parts: list[bytes] = []
        self._seal_one(RecordType.CLOSE, b"", parts)
        self._closed = True
        return b"".join(parts)

    def _seal_one(
        self, record_type: RecordType, chunk: bytes | memoryview, parts: list[bytes]
    ) -> None:
        if self._closed:
            raise LocalProtocolError("sealing after the close record")
        if self._sequence >= MAX_SEQUENCE:
            raise LocalProtocolError("record sequence exhausted; open a new connection")
        header = (len(chunk) + TAG_SIZE).to_bytes(2, "big") + bytes([record_type])
        sequence = self._sequence.to_bytes(8, "big")
        sealed = self._aead.encrypt(
            self._nonce_prefix + sequence, chunk, self._aad_prefix + sequence + header
        )
        self._sequence += 1
        parts.append(header)
        parts.append(sealed)


class RecordOpener:
    """Opens incoming records in order; `feed(b"")` marks the end of the byte stream.

    Buffers at most one partial record beyond what the caller feeds at once.
    """

    def __init__(self, channel: ChannelKey) -> None:
        self._aead = channel.aead()
        self._nonce_prefix = channel.nonce_prefix()
        self._aad_prefix = channel.aad_prefix()
        self._sequence = 0
        self._buffer = b""
        self._offset = 0
        self._eof = False
        self._closed = False
        self._failed = False

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._offset

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof:
            raise LocalProtocolError("feed() after end of stream")
        if not data:
            self._eof = True
            return
        if self._offset == len(self._buffer):
            self._buffer = bytes(data)
        else:
            self._buffer = self._buffer[self._offset :] + bytes(data)
        self._offset = 0

    def next_record(self) -> bytes | NeedData | ConnectionClosed:
        """The next record's plaintext, NEED_DATA, or ConnectionClosed after CLOSE."""
        if self._failed:
            raise LocalProtocolError("the opener already refused a record")
        try:
            return self._next_record()
        except RemoteProtocolError:
            self._failed = True
            raise

    def _need_data(self) -> NeedData:
        if self._eof:
            raise RemoteProtocolError(
                ErrorCode.TRUNCATED,
                "The encrypted stream ended without its close record: it was cut.",
                "Nothing partial was kept. Check the network path and try again.",
            )
        return NEED_DATA

    def _next_record(self) -> bytes | NeedData | ConnectionClosed:
        buffer, offset = self._buffer, self._offset
        available = len(buffer) - offset
        if self._closed:
            if available:
                raise bad_record("Data arrived after the encrypted stream's close record.")
            return ConnectionClosed()
        if available < HEADER_SIZE:
            return self._need_data()
        length = int.from_bytes(buffer[offset : offset + 2], "big")
        record_type = buffer[offset + 2]
        if not TAG_SIZE <= length <= MAX_RECORD_SIZE - HEADER_SIZE or record_type not in (
            RecordType.DATA,
            RecordType.CLOSE,
        ):
            raise bad_record(
                f"Record {self._sequence} has an impossible header "
                "(altered in transit, or not an encrypted vcs stream)."
            )
        end = offset + HEADER_SIZE + length
        if len(buffer) < end:
            return self._need_data()
        header = buffer[offset : offset + HEADER_SIZE]
        sequence = self._sequence.to_bytes(8, "big")
        try:
            plaintext = self._aead.decrypt(
                self._nonce_prefix + sequence,
                memoryview(buffer)[offset + HEADER_SIZE : end],
                self._aad_prefix + sequence + header,
            )
        except InvalidTag:
            raise bad_record(
                f"Record {self._sequence} failed authentication: it was altered, dropped, "
                "replayed or reordered in transit."
            ) from None
        self._offset = end
        self._sequence += 1
        if record_type == RecordType.CLOSE:
            if plaintext:
                raise bad_record("The close record carries data.")
            self._closed = True
            return self._next_record()
        if not plaintext:
            raise bad_record(f"Record {self._sequence - 1} is empty.")
        return plaintext
