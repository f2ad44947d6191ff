"""The probe's readings of FFmpeg side data: display matrices, HDR metadata, Dolby Vision.

The bytes are FFmpeg's public structs, built here as FFmpeg lays them out
(libavutil/display.h, mastering_display_metadata.h, dovi_meta.h); the real files of
tests/server/test_fidelity.py check the same readings end to end.
"""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.media.colour import (
    ColourInfo,
    DolbyVision,
    DynamicRange,
    parse_content_light,
    parse_dolby_vision,
    parse_mastering_display,
)
from app.media.colour_args import tonemap_to_sdr, x265_hdr_params, x265_master_display
from app.media.orientation import Orientation, orientation_from_matrix, parse_display_matrix

ONE = 1 << 16  # 16.16 fixed point


def display_matrix(clockwise_degrees: float, mirrored: bool = False) -> bytes:
    """What av_display_rotation_set (+ av_display_matrix_flip) writes for a player turn
    of `clockwise_degrees` (FFmpeg's matrix angle is counter-clockwise)."""
    theta = math.radians(-clockwise_degrees)
    c, s = math.cos(theta), math.sin(theta)
    m = [round(c * ONE), round(-s * ONE), 0, round(s * ONE), round(c * ONE), 0, 0, 0, 1 << 30]
    if mirrored:  # av_display_matrix_flip(hflip=1): the first column negated
        m[0], m[3] = -m[0], -m[3]
    return struct.pack("=9i", *m)


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_quarter_turns_are_read_as_ffmpeg_applies_them(rotation) -> None:
    assert parse_display_matrix(display_matrix(rotation)) == Orientation(rotation)
    mirrored = parse_display_matrix(display_matrix(rotation, mirrored=True))
    assert mirrored.mirrored and mirrored.swaps_sides == (rotation in (90, 270))


def test_the_phone_matrix_ffmpeg_calls_minus_90_degrees_is_a_clockwise_quarter_turn() -> None:
    # -display_rotation -90 (an iPhone held upright): a b c d = 0 1 -1 0.
    assert orientation_from_matrix((0, ONE, 0, -ONE, 0, 0, 0, 0, 1 << 30)) == Orientation(90)
    assert Orientation(90).describe() == "rotated 90° clockwise"


@given(st.binary(max_size=64))
def test_any_bytes_give_an_orientation(data) -> None:
    found = parse_display_matrix(data)
    assert found.rotation in (0, 90, 180, 270)


def test_mastering_display_and_content_light_are_read_from_ffmpegs_structs() -> None:
    primaries = [(34000, 50000), (16000, 50000), (13250, 50000), (34500, 50000)]
    primaries += [(7500, 50000), (3000, 50000)]
    white = [(15635, 50000), (16450, 50000)]
    luminance = [(1, 10000), (10000000, 10000)]
    values = [x for pair in primaries + white + luminance for x in pair] + [1, 1]
    mastering = parse_mastering_display(struct.pack("=22i", *values))
    assert mastering is not None
    assert (mastering.red, mastering.green, mastering.blue) == (
        (0.68, 0.32),
        (0.265, 0.69),
        (0.15, 0.06),
    )
    assert (mastering.min_nits, mastering.max_nits) == (0.0001, 1000.0)
    assert x265_master_display(mastering) == (
        "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
    )
    assert parse_mastering_display(struct.pack("=22i", *values[:-2], 0, 0)) is None
    light = parse_content_light(struct.pack("=2I", 1000, 400))
    assert light is not None and (light.max_cll, light.max_fall) == (1000, 400)
    assert parse_content_light(b"") is None


def dovi_metadata(vdr_rpu_profile: int, full_range: int, el_resampling: int = 0) -> bytes:
    header_offset = 48
    head = struct.pack("N", header_offset) + b"\0" * (header_offset - struct.calcsize("N"))
    rpu = bytearray(17)
    rpu[4], rpu[10], rpu[13], rpu[15], rpu[16] = vdr_rpu_profile, full_range, 10, el_resampling, 1
    return head + bytes(rpu)


def test_dolby_vision_profiles_are_told_apart_from_the_rpu_header() -> None:
    assert parse_dolby_vision(dovi_metadata(1, 0)) == DolbyVision(8)
    assert parse_dolby_vision(dovi_metadata(0, 1)) == DolbyVision(5)
    assert parse_dolby_vision(b"\x01") == DolbyVision(0)
    profile5 = ColourInfo(dolby_vision=DolbyVision(5))
    assert profile5.dolby_vision_without_base_layer
    hlg_base = ColourInfo(
        "bt2020", "arib-std-b67", "bt2020nc", "tv", 10, None, None, DolbyVision(8)
    )
    assert hlg_base.describe() == "Dolby Vision 8 (HLG base layer)"
    assert hlg_base.dynamic_range is DynamicRange.HLG


def test_hdr_is_told_by_its_transfer_and_kept_or_tone_mapped_accordingly() -> None:
    pq = ColourInfo("bt2020", "smpte2084", "bt2020nc", "tv", 10)
    assert pq.is_hdr and pq.describe() == "HDR10"
    assert "hdr10=1" in x265_hdr_params(pq) and "transfer=smpte2084" in x265_hdr_params(pq)
    chain = tonemap_to_sdr(pq)
    assert chain.startswith("setparams=range=tv:color_primaries=bt2020:color_trc=smpte2084")
    assert chain.endswith("zscale=t=bt709:m=bt709:r=limited,format=yuv420p")
    assert tonemap_to_sdr(ColourInfo("bt709", "bt709", "bt709")) == ""
