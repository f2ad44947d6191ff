"""What the FFmpeg on this machine can write: its muxers and encoders, asked once and cached.

A user may run the server with their own FFmpeg (SPEC §8), so the list of output formats
is discovered from the binary (`ffmpeg -muxers`, `-h muxer=NAME`, `-encoders`), never
assumed. The parsers are pure; the `*_of` functions run FFmpeg (blocking, ~20 ms each)
and cache by binary path.
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


def parse_muxers(text: str) -> frozenset[str]:
    """Names of file muxers in `ffmpeg -muxers` output (devices and NOT_FILE_MUXERS left out)."""
    names: set[str] = set()
    in_table = False
    for line in text.splitlines():
        if line.strip().startswith("--"):
            in_table = True
            continue
        parts = line.split(None, 2)
        if not in_table or len(parts) < 2:
            continue
        flags, aliases = parts[0], parts[1]
        if "E" not in flags or "d" in flags:
            continue
        names.update(a for a in aliases.split(",") if a and a not in NOT_FILE_MUXERS)
    return frozenset(names)


def parse_encoders(text: str) -> frozenset[str]:
    """Encoder names in `ffmpeg -encoders` output (lines like ` V....D libx264  ...`)."""
    names: set[str] = set()
    in_table = False
    for line in text.splitlines():
        if line.strip().startswith("--"):
            in_table = True
            continue
        parts = line.split(None, 2)
        if in_table and len(parts) >= 2 and parts[0][:1] in ("V", "A", "S"):
            names.add(parts[1])
    return frozenset(names)


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


def _ask(ffmpeg: str, *args: str) -> str:
    try:
        done = subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", *args],
            capture_output=True,
            text=True,
            timeout=_QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VcsError(
            ErrorCode.INTERNAL,
            f"The server could not ask its FFmpeg what it supports ({type(exc).__name__}).",
            "Report this to the operator: the server's FFmpeg does not run.",
        ) from None
    return done.stdout


@functools.cache
def muxers_of(ffmpeg: str) -> frozenset[str]:
    return parse_muxers(_ask(ffmpeg, "-muxers"))


@functools.cache
def encoders_of(ffmpeg: str) -> frozenset[str]:
    return parse_encoders(_ask(ffmpeg, "-encoders"))


@functools.cache
def muxer_details_of(ffmpeg: str, name: str) -> MuxerDetails:
    """Details of a muxer known to be in `muxers_of(ffmpeg)` (the name goes into argv)."""
    if name not in muxers_of(ffmpeg):
        raise ValueError(f"not a file muxer of {ffmpeg}: {name!r}")
    return parse_muxer_help(name, _ask(ffmpeg, "-h", f"muxer={name}"))


def require_encoders(ffmpeg: str, *names: str) -> None:
    """Refuse a job whose encoders this FFmpeg lacks, before it starts."""
    missing = [name for name in names if name not in encoders_of(ffmpeg)]
    if missing:
        raise VcsError(
            ErrorCode.ENCODER_MISSING,
            f"The server's FFmpeg has no {', '.join(missing)} encoder.",
            "Ask the operator to run vcs-serve with an FFmpeg that has it "
            "(the bundled imageio-ffmpeg build does).",
        )
