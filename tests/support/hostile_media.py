"""Uploads an attacker would send: files that name other files, and bombs.

Made here byte by byte (playlists, lists, manifests, a PNG and a GIF whose headers
declare huge frames) so that a test shows exactly what the server was given.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from tests.media_files import make_clip


@dataclass(frozen=True)
class Secret:
    """A file outside any job that an upload tries to make the server read: a playable
    MPEG-TS (what an HLS segment is), so a server following the reference would read it."""

    path: Path
    md5: str

    @classmethod
    def make(cls, directory: Path) -> Secret:
        directory.mkdir(parents=True, exist_ok=True)
        path = make_clip(
            directory / "secret.ts",
            seconds=2,
            size="160x120",
            audio=False,
            extra=("-f", "mpegts"),
        )
        return cls(path, hashlib.md5(path.read_bytes()).hexdigest())


def hls_vod(segment: Path) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n"
    ).encode()


def hls_live(missing_segment: Path) -> bytes:
    """A live playlist (no #EXT-X-ENDLIST) naming a segment that does not exist: a reader
    that follows it waits for the playlist to grow, forever (issue 14: 112 bytes)."""
    return (
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:1\n"
        f"#EXTINF:10.0,\n{missing_segment}\n"
    ).encode()


def dash_manifest(segment: Path) -> bytes:
    return (
        '<?xml version="1.0"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" '
        'mediaPresentationDuration="PT2S" minBufferTime="PT1S"><Period>'
        '<AdaptationSet mimeType="video/mp2t"><Representation id="1" bandwidth="1000">'
        f"<BaseURL>file://{segment}</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
    ).encode()


def ffconcat(part: Path) -> bytes:
    return f"ffconcat version 1.0\nfile '{part}'\n".encode()


def png_bomb(path: Path, width: int = 16000, height: int = 16000) -> Path:
    """A black RGB PNG of width x height: under a megabyte, 768 MB once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    deflate = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)  # filter byte, then black pixels
    with path.open("wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        pending = bytearray()
        for _ in range(height):
            pending += deflate.compress(row)
            if len(pending) > 1 << 20:
                f.write(chunk(b"IDAT", bytes(pending)))
                pending.clear()
        pending += deflate.flush()
        f.write(chunk(b"IDAT", bytes(pending)))
        f.write(chunk(b"IEND", b""))
    return path


def gif_bomb(path: Path, canvas: int = 8000, frames: int = 2300) -> Path:
    """An animated GIF with a canvas x canvas screen and 1-pixel frames: ~50 KB, and a
    decoder that composes each frame on the canvas allocates 256 MB a frame."""
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", canvas, canvas, 0x80, 0, 0)  # global colour table of 2
    out += b"\0\0\0\xff\xff\xff"
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\0"  # loop forever
    for i in range(frames):
        out += b"\x21\xf9\x04\x04\x02\x00\x00\x00"  # graphic control: 2/100 s
        out += b"\x2c" + struct.pack("<HHHHB", i % canvas, 0, 1, 1, 0)
        out += b"\x02\x02\x44\x01\x00"  # LZW: clear, colour 1, end
    out += b"\x3b"
    path.write_bytes(bytes(out))
    return path
