"""Which demuxers may read an upload, and how every reader of an upload opens it.

An upload is read as itself and nothing else (SPEC §3.0, docs/security.md#media-threat-
model). FFmpeg picks a demuxer by probing the content, and some demuxers open other
files: an HLS or DASH playlist names its segments, a concat list names its parts, an
image2 pattern names a numbered series, an SDP file names network streams. Uploaded as
"media", such a file makes FFmpeg read whatever path it names (another user's upload, a
file in a home directory) and return it as the result. So every reader of an upload — the
probe (PyAV), the client's local probe and each FFmpeg run — opens it with

- a **format whitelist** of self-contained containers (`UPLOAD_DEMUXERS`): anything
  else, playlists and lists above all, is refused before a byte past the probe is read;
- a **protocol whitelist** of `file` only: no network, no `concat:`/`subfile:` tricks;
- a **decoder pixel cap** (`max_pixels`): a frame larger than the caps of limits.py is
  refused by the decoder before its buffer is allocated, even mid-stream.

Files the server wrote itself (the compress op's samples, the gif op's palette) are
opened with their one known format forced and whitelisted.
"""

from __future__ import annotations

import itertools
from typing import Final

from app.media.limits import MAX_FRAME_PIXELS
from app.protocol.errors import ErrorCode, VcsError

# FFmpeg's demuxer names (`ffmpeg -demuxers`). A demuxer's full name may list several
# ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"); FFmpeg matches any of them.
UPLOAD_DEMUXERS: Final = (
    "mov",  # mp4, mov, m4a, m4v, 3gp, 3g2, mj2 (external data references are off)
    "matroska",  # mkv, webm, mka
    "avi",
    "mpegts",  # ts, m2ts, mts
    "mpeg",  # MPEG program streams: mpg, vob
    "flv",
    "asf",  # wmv, wma
    "ogg",  # ogv, ogg, opus
    "wav",
    "aiff",
    "mp3",
    "flac",
    "aac",  # ADTS
    "yuv4mpegpipe",  # y4m
    "ivf",  # VP8/VP9/AV1 elementary streams
    "h264",  # raw Annex B streams
    "hevc",
    "gif",
    "apng",
    "png_pipe",
    "jpeg_pipe",
    "webp_pipe",
    "bmp_pipe",
)
UPLOAD_PROTOCOLS: Final = ("file",)
FORMAT_WHITELIST: Final = ",".join(UPLOAD_DEMUXERS)
PROTOCOL_WHITELIST: Final = ",".join(UPLOAD_PROTOCOLS)
# What FFmpeg says when the content probes as a demuxer outside the list.
REFUSED_MESSAGE: Final = "Format not on whitelist"

# Formats that refer to other files or streams, by what their text starts with: only
# to name what was refused (FFmpeg refuses them either way).
_REFERRING_FORMATS: Final = (
    (b"#EXTM3U", "an HLS playlist (m3u8)"),
    (b"ffconcat", "an FFmpeg concat list"),
    (b"<?xml", "an XML manifest (e.g. DASH)"),
    (b"<MPD", "a DASH manifest"),
    (b"v=0", "an SDP session description"),
)


def upload_input_args() -> list[str]:
    """FFmpeg options that go before an upload's `-i`."""
    return [
        *("-format_whitelist", FORMAT_WHITELIST),
        *("-protocol_whitelist", PROTOCOL_WHITELIST),
        *("-max_pixels", str(MAX_FRAME_PIXELS)),
    ]


def own_input_args(muxer: str) -> list[str]:
    """FFmpeg options that go before the `-i` of a file the server wrote as `muxer`."""
    return ["-f", muxer, "-format_whitelist", muxer, "-protocol_whitelist", PROTOCOL_WHITELIST]


def pyav_container_options() -> dict[str, str]:
    """`container_options` for `av.open` on an upload (the rules of `upload_input_args`;
    the pixel cap goes to the decoders as `options`)."""
    return {"format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": PROTOCOL_WHITELIST}


def check_input_args(argv: list[str]) -> None:
    """Refuse (as a bug) an FFmpeg command with an input opened without a format
    whitelist and the `file`-only protocol whitelist: an input's options are those
    between the previous input and its `-i`."""
    start = 0
    for i, arg in enumerate(argv):
        if arg != "-i" or i + 1 >= len(argv):
            continue
        pairs = list(itertools.pairwise(argv[start:i]))
        start = i + 2
        if not any(option == "-format_whitelist" for option, _ in pairs):
            raise AssertionError(f"FFmpeg would open {argv[i + 1]} without -format_whitelist")
        if ("-protocol_whitelist", PROTOCOL_WHITELIST) not in pairs:
            raise AssertionError(f"FFmpeg would open {argv[i + 1]} with other protocols")


def referring_format(head: bytes) -> str | None:
    """The kind of file that names other files `head` starts like, if any (a build of
    FFmpeg without the DASH demuxer cannot tell a manifest from garbage: this can)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for start, name in _REFERRING_FORMATS:
        if text.startswith(start):
            return name
    return None


def describe_refused(head: bytes, demuxer: str | None) -> str:
    """What the refused upload looks like, for the error message."""
    if named := referring_format(head):
        return named
    return f"the {demuxer} format" if demuxer else "a format this server does not read"


def format_not_allowed(what: str) -> VcsError:
    return VcsError(
        ErrorCode.FORMAT_NOT_ALLOWED,
        f"The upload is {what}. The server reads only self-contained media files, never "
        "playlists, manifests or lists that name other files.",
        "Upload the media itself (an mp4, mkv, mov, webm, avi, ts, ... file); for a "
        "playlist, join its parts locally first (e.g. `ffmpeg -i list.m3u8 -c copy "
        "joined.mkv`). The accepted formats are listed in docs/security.md.",
    )
