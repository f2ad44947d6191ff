"""What an FFmpeg binary has: its encoders and filters, asked once per binary and cached.

The bundled FFmpeg has libx264, libx265, libsvtav1 and libvmaf (SPEC §8), but an operator
may run the server with their own build (Debian's has no libvmaf), so the compress op
asks rather than assumes. The parser is pure; `features_of` runs FFmpeg (blocking, tens
of milliseconds: call it from a worker thread).
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from typing import Final

QUERY_TIMEOUT_S: Final = 20.0
# `ffmpeg -encoders` / `-filters` print a legend, a `------` line, then one entry per
# line: flags, name, description.
_ENTRY: Final = re.compile(r"^\s*[A-Z.|]{2,8}\s+([A-Za-z0-9_]+)\s", re.M)


@dataclass(frozen=True, slots=True)
class FFmpegFeatures:
    encoders: frozenset[str]
    filters: frozenset[str]

    def has_encoder(self, name: str) -> bool:
        return name in self.encoders

    def has_filter(self, name: str) -> bool:
        return name in self.filters


def parse_listing(text: str) -> frozenset[str]:
    """Names from the table `ffmpeg -encoders` or `ffmpeg -filters` prints."""
    _, sep, entries = text.partition("------")
    return frozenset(_ENTRY.findall(entries if sep else text))


def _listing(ffmpeg: str, what: str) -> frozenset[str]:
    try:
        done = subprocess.run(
            [ffmpeg, "-nostdin", "-hide_banner", what],
            capture_output=True,
            text=True,
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()  # nothing known: the op refuses what it needs, clearly
    return parse_listing(done.stdout)


@functools.cache
def features_of(ffmpeg: str) -> FFmpegFeatures:
    return FFmpegFeatures(_listing(ffmpeg, "-encoders"), _listing(ffmpeg, "-filters"))
