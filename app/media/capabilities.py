"""What the FFmpeg on this machine has: muxers, encoders, filters, loopback decoding.

A user may run the server with their own FFmpeg (docs/compression.md: Debian's has no libvmaf), so
what it can write and measure is asked of the binary (`ffmpeg -muxers`, `-encoders`,
`-filters`, `-h muxer=NAME`), never assumed. The parsers are pure; the `*_of` functions
run FFmpeg (blocking, ~20 ms each: call them from a worker thread or at start-up) and
cache by binary path.

One error policy: an FFmpeg that cannot be asked (missing, not executable, hanging)
raises `VcsError(INTERNAL)` naming the operator's problem. Nothing is cached then, so
the next question asks again. An empty answer would turn "the server's FFmpeg is
broken" into a misleading "no libx264 encoder"; a raise says what is wrong.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from typing import Final

from app.protocol.errors import ErrorCode, VcsError

_QUERY_TIMEOUT_S: Final = 20.0

# Muxers that do not write one plain file, or write nothing a user could play: network
# and multi-file outputs, checksums, metadata dumps, and output devices (newer FFmpeg
# flags devices with `d`; older ones list them like any muxer).
NOT_FILE_MUXERS: Final = frozenset(
    {
        "alsa",
        "audiotoolbox",
        "caca",
        "decklink",
        "fbdev",
        "opengl",
        "oss",
        "pulse",
        "sdl",
        "sdl2",
        "sndio",
        "v4l2",
        "video4linux2",
        "xv",
        "chromaprint",
        "crc",
        "dash",
        "ffmetadata",
        "fifo",
        "framecrc",
        "framehash",
        "framemd5",
        "hash",
        "hds",
        "hls",
        "image2",
        "md5",
        "mkvtimestamp_v2",
        "null",
        "rtp",
        "rtp_mpegts",
        "rtsp",
        "sap",
        "segment",
        "smoothstreaming",
        "ssegment",
        "stream_segment",
        "streamhash",
        "tee",
        "uncodedframecrc",
        "webm_chunk",
        "webm_dash_manifest",
        "whip",
    }
)


@dataclass(frozen=True, slots=True)
class MuxerDetails:
    """`ffmpeg -h muxer=NAME`: the file extensions and the codecs it writes by default."""

    name: str
    extensions: tuple[str, ...]
    default_video: str | None
    default_audio: str | None


def parse_table(text: str) -> list[tuple[str, str]]:
    """(flags, name) of each entry in the tables `ffmpeg -muxers`, `-encoders` and
    `-filters` print: a legend, a line starting `--`, then `FLAGS NAME DESCRIPTION`."""
    entries: list[tuple[str, str]] = []
    in_table = False
    for line in text.splitlines():
        if line.strip().startswith("--"):
            in_table = True
            continue
        parts = line.split(None, 2)
        if in_table and len(parts) >= 2:
            entries.append((parts[0], parts[1]))
    return entries


def parse_muxers(text: str) -> frozenset[str]:
    """Names of file muxers in `ffmpeg -muxers` output (devices and NOT_FILE_MUXERS left out)."""
    names: set[str] = set()
    for flags, aliases in parse_table(text):
        if "E" in flags and "d" not in flags:
            names.update(a for a in aliases.split(",") if a and a not in NOT_FILE_MUXERS)
    return frozenset(names)


def parse_names(text: str) -> frozenset[str]:
    """Names in `ffmpeg -encoders` or `ffmpeg -filters` output (` V....D libx264  ...`)."""
    return frozenset(name for _, name in parse_table(text))


def parse_muxer_help(name: str, text: str) -> MuxerDetails:
    """The first lines of `ffmpeg -h muxer=NAME`: extensions and default codecs."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip().rstrip(".")
    extensions = tuple(
        ext.strip().lower() for ext in fields.get("common extensions", "").split(",") if ext.strip()
    )

    def codec(key: str) -> str | None:
        value = fields.get(key, "")
        return value if value and value != "none" else None

    return MuxerDetails(
        name=name,
        extensions=extensions,
        default_video=codec("default video codec"),
        default_audio=codec("default audio codec"),
    )


def _cannot_ask(why: str) -> VcsError:
    return VcsError(
        ErrorCode.INTERNAL,
        f"The server could not ask its FFmpeg what it supports ({why}).",
        "Report this to the operator: the server's FFmpeg does not run.",
    )


def _run(ffmpeg: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", *args],
            capture_output=True,
            text=True,
            timeout=_QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _cannot_ask(type(exc).__name__) from None


def _ask(ffmpeg: str, *args: str) -> str:
    return _run(ffmpeg, *args).stdout


@dataclass(frozen=True, slots=True)
class FFmpegFeatures:
    """What the compress op needs to know of an FFmpeg beyond its muxers."""

    encoders: frozenset[str]
    filters: frozenset[str]
    # FFmpeg ≥ 7 can decode what it is encoding (`-dec`, a loopback decoder) and feed it
    # to a filter: the compress op scores its final encode as it runs.
    loopback_decoder: bool = False

    def has_encoder(self, name: str) -> bool:
        return name in self.encoders

    def has_filter(self, name: str) -> bool:
        return name in self.filters


# One frame encoded and decoded back into a filter: FFmpeg without `-dec` exits non-zero
# ("Unrecognized option"). Its help does not list the option, so it is tried (on a
# generated frame: no `-i`, no file).
_LOOPBACK_PROBE: Final = (
    *("-loglevel", "error", "-filter_complex", "color=size=16x16:duration=0.04[v]"),
    *("-map", "[v]", "-c:v", "rawvideo", "-f", "null", "-"),
    *("-dec", "0:0", "-filter_complex", "[dec:0]null[o]", "-map", "[o]", "-f", "null", "-"),
)


@functools.cache
def features_of(ffmpeg: str) -> FFmpegFeatures:
    return FFmpegFeatures(
        encoders=parse_names(_ask(ffmpeg, "-encoders")),
        filters=parse_names(_ask(ffmpeg, "-filters")),
        loopback_decoder=_run(ffmpeg, *_LOOPBACK_PROBE).returncode == 0,
    )


@functools.cache
def muxers_of(ffmpeg: str) -> frozenset[str]:
    return parse_muxers(_ask(ffmpeg, "-muxers"))


@functools.cache
def muxer_details_of(ffmpeg: str, name: str) -> MuxerDetails:
    """Details of a muxer known to be in `muxers_of(ffmpeg)` (the name goes into argv)."""
    if name not in muxers_of(ffmpeg):
        raise ValueError(f"not a file muxer of {ffmpeg}: {name!r}")
    return parse_muxer_help(name, _ask(ffmpeg, "-h", f"muxer={name}"))


def require_encoders(ffmpeg: str, *names: str) -> None:
    """Refuse a job whose encoders this FFmpeg lacks, before it starts."""
    missing = [name for name in names if not features_of(ffmpeg).has_encoder(name)]
    if missing:
        raise VcsError(
            ErrorCode.ENCODER_MISSING,
            f"The server's FFmpeg has no {', '.join(missing)} encoder.",
            "Ask the operator to run vcs-serve with an FFmpeg that has it "
            "(the bundled imageio-ffmpeg build does).",
        )
