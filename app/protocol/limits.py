"""Every wire limit of docs/protocol.md in one place."""

from __future__ import annotations

from typing import Final

# docs/protocol.md: the 64-byte header.
HEADER64_SIZE: Final = 64
HEADER64_JSON_FIELD: Final = 16
HEADER64_MEDIA_TYPE_FIELD: Final = 1
HEADER64_PAYLOAD_FIELD: Final = 47

# docs/protocol.md "header dialects": the 8-byte (64-bit) header most other implementations speak.
HEADER8_SIZE: Final = 8
HEADER8_JSON_FIELD: Final = 2
HEADER8_MEDIA_TYPE_FIELD: Final = 1
HEADER8_PAYLOAD_FIELD: Final = 5

MIN_JSON_SIZE: Final = 2
MAX_JSON_SIZE: Final = 65_536
# The 8-byte dialect has a 2-byte JSON size field, so it cannot say 65,536.
MAX_JSON_SIZE_HEADER8: Final = 65_535
MAX_MEDIA_TYPE_SIZE: Final = 16
MAX_PAYLOAD_SIZE: Final = 2**47
MAX_PAYLOAD_SIZE_HEADER8: Final = 2**40 - 1

# A JSON document nested deeper than this is refused (a "JSON bomb").
MAX_JSON_DEPTH: Final = 16

# docs/protocol.md: every TCP segment carries at most 1,400 payload bytes; code cuts the
# stream into units of this size.
PACKET_SIZE: Final = 1_400
# Linux counts TCP options (timestamps: 12 bytes) in TCP_MAXSEG; 1,412 yields
# segments of exactly 1,400 payload bytes.
TCP_MAXSEG_FOR_PACKET: Final = 1_412
