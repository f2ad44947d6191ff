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
the opener is fed bytes and returns plaintext chunks. For bulk payloads both also work
between caller-owned buffers (`seal_into`, `open_into`: AEAD `encrypt_into` /
`decrypt_into`, no per-record allocation), which the worker-thread pumps of
app/wire/sealed_pump.py reuse for a whole transfer.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from app.protocol import limits
from app.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from app.protocol.events import NEED_DATA, ConnectionClosed, NeedData
from app.protocol.receive_buffer import ReceiveBuffer

HEADER_SIZE: Final = 3
TAG_SIZE: Final = 16
RECORD_OVERHEAD: Final = HEADER_SIZE + TAG_SIZE
# A full record is exactly 46 packets of SPEC §2 (64,400 bytes, the most units a 2-byte
# length can count): a batch of full records is a whole number of 1,400-byte units and
# the 19 bytes of overhead cost 0.03 %. Per-record work (a Python call, a nonce, the
# associated data) is what costs at this size, not the cipher: bench/crypto.py measures
# the sizes (12 units were used before; 1 unit costs several times the CPU per byte).
# Every connection may hold one partial record: 64 KB, only while a transfer runs.
RECORD_UNITS: Final = 46
MAX_RECORD_SIZE: Final = RECORD_UNITS * limits.PACKET_SIZE
MAX_PLAINTEXT: Final = MAX_RECORD_SIZE - RECORD_OVERHEAD
MAX_SEQUENCE: Final = 2**64 - 1
_MAX_SEALED_BODY: Final = MAX_RECORD_SIZE - HEADER_SIZE
_HEADER: Final = struct.Struct(">HB")  # sealed length, record type
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

    @staticmethod
    def sealed_size(plaintext_size: int) -> int:
        """The bytes `seal` makes of `plaintext_size` bytes."""
        records = -(-plaintext_size // MAX_PLAINTEXT)
        return plaintext_size + records * RECORD_OVERHEAD

    def seal(self, data: bytes | bytearray | memoryview) -> bytes:
        """DATA records for `data`: full ones of MAX_PLAINTEXT bytes, then the rest."""
        out = bytearray(self.sealed_size(len(data)))
        self.seal_into(memoryview(data).cast("B"), memoryview(out))
        return bytes(out)

    def seal_into(self, data: memoryview, out: memoryview) -> int:
        """Seal `data` as `seal` does, into `out` (at least `sealed_size` bytes); returns
        the bytes written. The hot path of every sealed payload: no allocation but the
        nonce and associated data."""
        if self._closed:
            raise LocalProtocolError("sealing after the close record")
        position = 0
        for start in range(0, len(data), MAX_PLAINTEXT):
            chunk = data[start : start + MAX_PLAINTEXT]
            position = self._seal_one(RecordType.DATA, chunk, out, position)
        return position

    def seal_close(self) -> bytes:
        """The CLOSE record; nothing can be sealed after it."""
        if self._closed:
            raise LocalProtocolError("sealing after the close record")
        out = bytearray(RECORD_OVERHEAD)
        self._seal_one(RecordType.CLOSE, memoryview(b""), memoryview(out), 0)
        self._closed = True
        return bytes(out)

    def _seal_one(self, record_type: int, chunk: memoryview, out: memoryview, at: int) -> int:
        sequence_number = self._sequence
        if sequence_number >= MAX_SEQUENCE:
            raise LocalProtocolError("record sequence exhausted; open a new connection")
        body = len(chunk) + TAG_SIZE
        header = _HEADER.pack(body, record_type)
        sequence = sequence_number.to_bytes(8, "big")
        out[at : at + HEADER_SIZE] = header
        at += HEADER_SIZE
        self._aead.encrypt_into(
            self._nonce_prefix + sequence,
            chunk,
            self._aad_prefix + sequence + header,
            out[at : at + body],
        )
        self._sequence = sequence_number + 1
        return at + body


class RecordOpener:
    """Opens incoming records in order; `feed(b"")` marks the end of the byte stream.

    A record inside one fed chunk is opened from a view of it; only a record that spans
    chunks is copied (ReceiveBuffer). Holds what the caller feeds at once plus at most
    one partial record.
    """

    def __init__(self, channel: ChannelKey) -> None:
        self._aead = channel.aead()
        self._nonce_prefix = channel.nonce_prefix()
        self._aad_prefix = channel.aad_prefix()
        self._sequence = 0
        self._buffer = ReceiveBuffer()
        self._closed = False
        self._failed = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer.feed(data)

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
        if self._buffer.eof:
            raise RemoteProtocolError(
                ErrorCode.TRUNCATED,
                "The encrypted stream ended without its close record: it was cut.",
                "Nothing partial was kept. Check the network path and try again.",
            )
        return NEED_DATA

    def _next_record(self) -> bytes | NeedData | ConnectionClosed:
        buffer = self._buffer
        if self._closed:
            if len(buffer):
                raise _after_close()
            return ConnectionClosed()
        header = buffer.peek(HEADER_SIZE)
        if header is None:
            return self._need_data()
        length, record_type = self._check_header(header)
        if len(buffer) < HEADER_SIZE + length:
            return self._need_data()
        record = buffer.take_view(HEADER_SIZE + length)
        plaintext = bytearray(length - TAG_SIZE)
        self._open_one(record_type, header, record[HEADER_SIZE:], memoryview(plaintext))
        if self._closed:
            return self._next_record()
        return bytes(plaintext)

    def open_into(self, data: memoryview, out: memoryview) -> tuple[int, int, bool]:
        """Open the whole records at the start of `data` into `out`, as many as fit.

        For callers that hold the ciphertext themselves (nothing may be buffered here):
        returns (bytes of `data` used, plaintext bytes written, whether the close record
        was among them — nothing is opened after it). A partial record is left unused.
        """
        if self._failed or len(self._buffer):
            raise LocalProtocolError("open_into() on a failed opener or with bytes buffered")
        used = written = 0
        try:
            while not self._closed:
                if len(data) - used < HEADER_SIZE:
                    break
                header = bytes(data[used : used + HEADER_SIZE])
                length, record_type = self._check_header(header)
                end = used + HEADER_SIZE + length
                plain_size = length - TAG_SIZE
                if end > len(data) or written + plain_size > len(out):
                    break
                target = out[written : written + plain_size]
                self._open_one(record_type, header, data[used + HEADER_SIZE : end], target)
                used, written = end, written + plain_size
            if self._closed and used < len(data):
                raise _after_close()
        except RemoteProtocolError:
            self._failed = True
            raise
        return used, written, self._closed

    def _check_header(self, header: bytes) -> tuple[int, int]:
        length, record_type = _HEADER.unpack(header)
        if not TAG_SIZE <= length <= _MAX_SEALED_BODY or record_type > RecordType.CLOSE:
            raise bad_record(
                f"Record {self._sequence} has an impossible header "
                "(altered in transit, or not an encrypted vcs stream)."
            )
        if record_type == RecordType.CLOSE and length != TAG_SIZE:
            raise bad_record("The close record carries data.")
        if record_type == RecordType.DATA and length == TAG_SIZE:
            raise bad_record(f"Record {self._sequence} is empty.")
        return length, record_type

    def _open_one(
        self, record_type: int, header: bytes, sealed: memoryview | bytes, out: memoryview
    ) -> None:
        sequence = self._sequence.to_bytes(8, "big")
        try:
            self._aead.decrypt_into(
                self._nonce_prefix + sequence, sealed, self._aad_prefix + sequence + header, out
            )
        except InvalidTag:
            raise bad_record(
                f"Record {self._sequence} failed authentication: it was altered, dropped, "
                "replayed or reordered in transit."
            ) from None
        self._sequence += 1
        if record_type == RecordType.CLOSE:
            self._closed = True

    def take_buffered(self) -> bytes:
        """Hand over the received bytes not yet opened (for a caller that opens them with
        `open_into`); give back what it did not use with `feed`."""
        return self._buffer.take_all()

    @property
    def ended(self) -> bool:
        """True once `feed(b"")` marked the end of the byte stream."""
        return self._buffer.eof


def _after_close() -> RemoteProtocolError:
    return bad_record("Data arrived after the encrypted stream's close record.")
