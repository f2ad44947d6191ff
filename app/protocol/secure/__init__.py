"""Sans-IO end-to-end encryption of MMP (docs/security.md): the key exchange and sealed records.

No sockets and no files: key objects and bytes in, JSON documents, records and
plaintext out. docs/security.md explains the design.
"""

from app.protocol.secure.handshake import (
    KEY_EXCHANGE_FINISH_OP,
    KEY_EXCHANGE_OP,
    ClientHandshake,
    ServerHandshake,
    Session,
    is_key_exchange,
)
from app.protocol.secure.keys import fingerprint
from app.protocol.secure.records import Cipher, RecordOpener, RecordSealer

__all__ = [
    "KEY_EXCHANGE_FINISH_OP",
    "KEY_EXCHANGE_OP",
    "Cipher",
    "ClientHandshake",
    "RecordOpener",
    "RecordSealer",
    "ServerHandshake",
    "Session",
    "fingerprint",
    "is_key_exchange",
]
