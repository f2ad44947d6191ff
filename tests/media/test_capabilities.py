"""Discovering what the FFmpeg on the machine can write (SPEC §8: the user may bring theirs)."""

from __future__ import annotations

import pytest

from app.media.capabilities import (
    NOT_FILE_MUXERS,
    encoders_of,
    muxer_details_of,
    muxers_of,
    parse_muxer_help,
    parse_muxers,
)
from app.media.ffmpeg_exe import find_ffmpeg

# The shape older FFmpeg prints (`show_formats_devices`: "DE" columns, devices unflagged)
# and the newer one (a device column `d`), as seen on the bundled 9.0.
OLD_MUXERS = """File formats:
 D. = Demuxing supported
 .E = Muxing supported
 --
  E 3g2             3GP2 (3GPP2 file format)
 DE matroska        Matroska
  E oss             OSS (Open Sound System) playback
  E segment         segment
 D  aa              Audible AA format files
"""
NEW_MUXERS = """Formats:
 D.. = Demuxing supported
 .E. = Muxing supported
 ..d = Is a device
 ---
  E  mp4             MP4 (MPEG-4 Part 14)
  Ed pulse           Pulse audio output
  E  stream_segment,ssegment streaming segment muxer
  Ed video4linux2,v4l2 Video4Linux2 output device
"""


def test_parse_keeps_file_muxers_and_drops_devices_and_non_files() -> None:
    assert parse_muxers(OLD_MUXERS) == {"3g2", "matroska"}
    assert parse_muxers(NEW_MUXERS) == {"mp4"}


def test_the_bundled_ffmpeg_writes_the_containers_the_spec_names() -> None:
    muxers = muxers_of(find_ffmpeg())
    assert {"mp4", "matroska", "mov", "avi", "webm", "gif", "mp3"} <= muxers
    assert not muxers & NOT_FILE_MUXERS
    assert not {"pulse", "fbdev", "video4linux2", "v4l2"} & muxers  # devices
    assert {"libx264", "libvpx-vp9", "libopus", "libmp3lame", "aac", "gif"} <= encoders_of(
        find_ffmpeg()
    )


def test_muxer_details_come_from_ffmpeg_help() -> None:
    mkv = muxer_details_of(find_ffmpeg(), "matroska")
    assert (mkv.extensions, mkv.default_video, mkv.default_audio) == (("mkv",), "h264", "vorbis")
    wav = muxer_details_of(find_ffmpeg(), "wav")
    assert wav.default_video is None and wav.default_audio == "pcm_s16le"
    with pytest.raises(ValueError):
        muxer_details_of(find_ffmpeg(), "-h")  # never put an unknown name on a command line


def test_parse_muxer_help_reads_lists_and_missing_fields() -> None:
    text = (
        "Muxer mpegts [MPEG-TS (MPEG-2 Transport Stream)]:\n"
        "    Common extensions: ts,m2t,m2ts,mts.\n"
        "    Default video codec: mpeg2video.\n"
    )
    details = parse_muxer_help("mpegts", text)
    assert details.extensions == ("ts", "m2t", "m2ts", "mts")
    assert (details.default_video, details.default_audio) == ("mpeg2video", None)
