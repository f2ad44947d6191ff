"""A video's colour as the probe finds it: tags, bit depth, HDR kind and HDR metadata.

HDR is recognised the way players do (SPEC §3.1): by the transfer function — PQ
(SMPTE ST 2084: HDR10, HDR10+) or HLG (ARIB STD-B67) — and Dolby Vision by its RPU
metadata on the decoded frames; its base layer is then HDR10, HLG or SDR by the same
tags (profiles 8.1, 8.4, 8.2), or, for profile 5, no picture a plain player can show.

Mastering-display and content-light metadata come from the first decoded frame's side
data, where FFmpeg puts them whether the container (mp4 `mdcv`/`clli`, Matroska colour
elements) or the bitstream (HEVC/AV1 SEI/OBU) carried them. The binary layouts are
FFmpeg's public structs (libavutil/mastering_display_metadata.h, dovi_meta.h).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

# FFmpeg's names (the values of -color_primaries, -color_trc, -colorspace) by the
# numbers of ITU-T H.273, which PyAV reports.
PRIMARIES: Final = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
TRANSFERS: Final = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
MATRICES: Final = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    14: "ictcp",
}
RANGES: Final = {1: "tv", 2: "pc"}
PQ_TRANSFER: Final = "smpte2084"
HLG_TRANSFER: Final = "arib-std-b67"


class DynamicRange(enum.StrEnum):
    SDR = "sdr"
    PQ = "pq"  # HDR10 (and HDR10+, and Dolby Vision 8.1's base layer)
    HLG = "hlg"  # broadcast and phone HDR (Dolby Vision 8.4's base layer)


@dataclass(frozen=True, slots=True)
class MasteringDisplay:
    """SMPTE ST 2086: the grading display's primaries and white point (CIE 1931 x, y)
    and its luminance range in cd/m²."""

    red: tuple[float, float]
    green: tuple[float, float]
    blue: tuple[float, float]
    white: tuple[float, float]
    min_nits: float
    max_nits: float


@dataclass(frozen=True, slots=True)
class ContentLight:
    """CTA-861.3: the brightest pixel (MaxCLL) and brightest frame average (MaxFALL), cd/m²."""

    max_cll: int
    max_fall: int


@dataclass(frozen=True, slots=True)
class DolbyVision:
    """Dolby Vision found on the frames. `profile`: 5 (no compatible base layer), 7, 8,
    or 0 when the RPU does not say; the base layer's own tags say what it is."""

    profile: int


@dataclass(frozen=True, slots=True)
class ColourInfo:
    """Empty strings where the file does not say (unspecified)."""

    primaries: str = ""
    transfer: str = ""
    matrix: str = ""
    range: str = ""
    bit_depth: int = 8
    mastering: MasteringDisplay | None = None
    light_level: ContentLight | None = None
    dolby_vision: DolbyVision | None = None

    @property
    def dynamic_range(self) -> DynamicRange:
        if self.transfer == PQ_TRANSFER:
            return DynamicRange.PQ
        if self.transfer == HLG_TRANSFER:
            return DynamicRange.HLG
        return DynamicRange.SDR

    @property
    def is_hdr(self) -> bool:
        return self.dynamic_range is not DynamicRange.SDR

    @property
    def dolby_vision_without_base_layer(self) -> bool:
        """Profile 5: the picture is IPTPQc2, only a Dolby Vision player shows it right."""
        return self.dolby_vision is not None and self.dolby_vision.profile == 5

    def describe(self) -> str:
        """What a user calls it: HDR10, HLG, Dolby Vision 8 (HLG), SDR."""
        names = {DynamicRange.PQ: "HDR10", DynamicRange.HLG: "HLG", DynamicRange.SDR: "SDR"}
        base = names[self.dynamic_range]
        if self.dolby_vision is None:
            return base
        profile = f" {self.dolby_vision.profile}" if self.dolby_vision.profile else ""
        if self.dolby_vision_without_base_layer:
            return f"Dolby Vision{profile}"
        return f"Dolby Vision{profile} ({base} base layer)"


UNTAGGED: Final = ColourInfo()


def colour_name(table: dict[int, str], value: object) -> str:
    """FFmpeg's name of an H.273 number, or "" (unspecified, reserved, unknown)."""
    return table.get(value, "") if isinstance(value, int) else ""


# AVMasteringDisplayMetadata: AVRational primaries[3][2] (R, G, B), white_point[2],
# min_luminance, max_luminance; int has_primaries, has_luminance.
_MASTERING: Final = struct.Struct("=22i")
_LIGHT_LEVEL: Final = struct.Struct("=2I")


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def parse_mastering_display(data: bytes) -> MasteringDisplay | None:
    if len(data) < _MASTERING.size:
        return None
    v = _MASTERING.unpack_from(data)
    has_primaries, has_luminance = v[20], v[21]
    if not (has_primaries and has_luminance):
        return None
    points = [(_ratio(v[i], v[i + 1]), _ratio(v[i + 2], v[i + 3])) for i in range(0, 16, 4)]
    red, green, blue, white = points
    return MasteringDisplay(
        red, green, blue, white, min_nits=_ratio(v[16], v[17]), max_nits=_ratio(v[18], v[19])
    )


def parse_content_light(data: bytes) -> ContentLight | None:
    if len(data) < _LIGHT_LEVEL.size:
        return None
    max_cll, max_fall = _LIGHT_LEVEL.unpack_from(data)
    return ContentLight(max_cll, max_fall) if max_cll or max_fall else None


# AVDOVIMetadata starts with size_t header_offset; AVDOVIRpuDataHeader is uint8 rpu_type,
# uint16 rpu_format, then uint8s: vdr_rpu_profile (4), ..., bl_video_full_range_flag
# (10), bl/el/vdr bit depths (11-13), spatial_resampling_filter_flag (14),
# el_spatial_resampling_filter_flag (15), disable_residual_flag (16).
_SIZE_T: Final = struct.Struct("N")
_RPU_HEADER_BYTES: Final = 17


def parse_dolby_vision(data: bytes) -> DolbyVision:
    """The profile from the RPU header FFmpeg decoded (FFmpeg's own guess, used when the
    container has no configuration record: ff_dovi_guess_profile_hevc)."""
    if len(data) < _SIZE_T.size:
        return DolbyVision(0)
    (offset,) = _SIZE_T.unpack_from(data)
    if offset + _RPU_HEADER_BYTES > len(data):
        return DolbyVision(0)
    header = data[offset : offset + _RPU_HEADER_BYTES]
    vdr_rpu_profile, full_range, vdr_bit_depth = header[4], header[10], header[13]
    el_resampling, disable_residual = header[15], header[16]
    if vdr_rpu_profile == 0:
        return DolbyVision(5 if full_range else 0)
    if vdr_rpu_profile == 1:
        if el_resampling and not disable_residual:
            return DolbyVision(7 if vdr_bit_depth == 12 else 4)
        return DolbyVision(8)
    return DolbyVision(0)
