"""Discovering what the FFmpeg on the machine can write (a user may bring their own)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.media.capabilities import (
    NOT_FILE_MUXERS,
    features_of,
    muxer_details_of,
    muxers_of,
    parse_muxer_help,
    parse_muxers,
    parse_names,
    require_encoders,
)
from app.media.ffmpeg_exe import find_ffmpeg
from app.protocol.errors import ErrorCode, VcsError

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
    features = features_of(find_ffmpeg())
    assert {"libx264", "libvpx-vp9", "libopus", "libmp3lame", "aac", "gif"} <= features.encoders
    assert {"libvmaf", "ssim", "palettegen", "paletteuse"} <= features.filters
    assert features.loopback_decoder  # the bundled FFmpeg (9) has `-dec`


def test_encoder_and_filter_listings_are_parsed_after_their_legend() -> None:
    text = (
        "Encoders:\n V..... = Video\n A..... = Audio\n ------\n"
        " V....D libx264              libx264 H.264 / AVC\n"
        " A....D aac                  AAC (Advanced Audio Coding)\n"
    )
    assert parse_names(text) == {"libx264", "aac"}
    filters = "Filters:\n  T.. = Timeline support\n  ------\n .. libvmaf  VV->V  Calculate VMAF.\n"
    assert parse_names(filters) == {"libvmaf"}


def test_an_ffmpeg_that_cannot_run_is_an_operator_error_not_a_missing_codec() -> None:
    for question in (features_of, muxers_of):
        with pytest.raises(VcsError) as caught:
            question("/nonexistent/ffmpeg")
        assert caught.value.code is ErrorCode.INTERNAL
        assert "operator" in caught.value.info.solution
    with pytest.raises(VcsError) as caught:
        require_encoders("/nonexistent/ffmpeg", "libx264")
    assert caught.value.code is ErrorCode.INTERNAL


def test_an_ffmpeg_without_loopback_decoding_is_told_apart(tmp_path: Path) -> None:
    # FFmpeg 6 and older answer `-dec` with "Unrecognized option" and exit status 8.
    old = tmp_path / "ffmpeg6"
    old.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "if '-dec' in sys.argv:\n"
        "    sys.exit(\"Unrecognized option 'dec'.\")\n"
        f"os.execv({find_ffmpeg()!r}, [{find_ffmpeg()!r}, *sys.argv[1:]])\n"
    )
    old.chmod(0o755)
    features = features_of(str(old))
    assert not features.loopback_decoder
    assert features.has_encoder("libx264")


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
