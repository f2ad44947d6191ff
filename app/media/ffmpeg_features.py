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
    # FFmpeg ≥ 7 can decode what it is encoding (`-dec`, a loopback decoder) and feed it
    # to a filter: the compress op scores its final encode as it runs.
    loopback_decoder: bool = False

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


# One frame encoded and decoded back into a filter: FFmpeg without `-dec` exits non-zero
# ("Unrecognized option"). Its help does not list the option, so it is tried (on a
# generated frame: no `-i`, no file).
_LOOPBACK_PROBE: Final = (
    *("-loglevel", "error", "-filter_complex", "color=size=16x16:duration=0.04[v]"),
    *("-map", "[v]", "-c:v", "rawvideo", "-f", "null", "-"),
    *("-dec", "0:0", "-filter_complex", "[dec:0]null[o]", "-map", "[o]", "-f", "null", "-"),
)


def _has_loopback_decoder(ffmpeg: str) -> bool:
    try:
        done = subprocess.run(
            [ffmpeg, "-nostdin", "-hide_banner", *_LOOPBACK_PROBE],
            capture_output=True,
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.cache
def features_of(ffmpeg: str) -> FFmpegFeatures:
    return FFmpegFeatures(
        _listing(ffmpeg, "-encoders"),
        _listing(ffmpeg, "-filters"),
        _has_loopback_decoder(ffmpeg),
    )
