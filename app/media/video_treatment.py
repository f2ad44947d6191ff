"""How a re-encoded video keeps its HDR, or is tone-mapped to SDR (SPEC §3.1). Pure.

An encoder that can carry HDR (x265 Main10, SVT-AV1 and libaom 10-bit, VP9 profile 2)
keeps it: 10 bits, the colour tags, the mastering-display and content-light metadata.
One that cannot (x264, and every 8-bit-only encoder) gets tone-mapped SDR BT.709, and
the report says so. Dolby Vision's RPU is not re-encoded: its base layer (HDR10 or HLG)
is what is kept; profile 5 has no base layer a plain decoder can show and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from app.media.colour import ColourInfo, DynamicRange
from app.media.colour_args import (
    HDR_PIXEL_FORMAT,
    svtav1_hdr_params,
    tonemap_to_sdr,
    x265_hdr_params,
)
from app.media.containers import Encoder
from app.protocol.errors import ErrorCode, VcsError

HDR_ENCODERS: Final = frozenset({"libx265", "libsvtav1", "libaom-av1", "libvpx-vp9"})
# Encoders whose FFmpeg wrapper would write Dolby Vision RPUs on its own when the frames
# carry them ("auto"), and fail without VBV settings: told not to.
_DOLBY_VISION_WRAPPERS: Final = frozenset({"libx265", "libsvtav1", "libaom-av1"})
# x265 for resize/aspect of HDR input: "fast" keeps 4K on two cores within reason; CRF
# 22 looks as x264's CRF 20 does.
X265_HDR: Final = Encoder(
    "libx265",
    (("preset", "fast"), ("crf", "22"), ("tag", "hvc1")),
    "scale=trunc(iw/2)*2:trunc(ih/2)*2",
)


@dataclass(frozen=True, slots=True)
class VideoTreatment:
    """The encoder (options complete) and the filters to run before the op's own."""

    encoder: Encoder
    tonemap: str = ""  # a filter chain, "" when none
    hdr: str | None = None  # "kept" or "tone-mapped" (None: the input is SDR)
    note: str | None = None
    # x265 / SVT-AV1 parameters the encoder needs (joined with the caller's own).
    codec_params: tuple[str, ...] = ()

    def filters(self, op_chain: str) -> str:
        """The tone map (if any) then the op's own chain."""
        return ",".join(part for part in (self.tonemap, op_chain) if part)

    def report(self) -> dict[str, str]:
        doc = {}
        if self.hdr is not None:
            doc["hdr"] = self.hdr
        if self.note:
            doc["hdr_note"] = self.note
        return doc


def dolby_vision_profile_5(colour: ColourInfo) -> VcsError:
    return VcsError(
        ErrorCode.UNSUPPORTED_MEDIA,
        "This is Dolby Vision profile 5 video: its picture is in Dolby's own colour space "
        "and only a Dolby Vision player shows it right, so re-encoding it here would give "
        "wrong colours.",
        "Use convert (e.g. to mkv or mp4), which copies the video as it is, or convert it "
        "to HDR10 with a Dolby Vision tool first.",
    )


def _with(encoder: Encoder, *options: tuple[str, str]) -> Encoder:
    """`encoder` with `options` replacing its own of the same names."""
    names = {name for name, _ in options}
    kept = tuple(option for option in encoder.options if option[0] not in names)
    return replace(encoder, options=kept + options)


def _params_option(encoder: str) -> str | None:
    return {"libx265": "x265-params", "libsvtav1": "svtav1-params"}.get(encoder)


def treat_video(colour: ColourInfo, encoder: Encoder, *, keep_hdr: bool = True) -> VideoTreatment:
    """How `encoder` gets this picture: SDR as it is; HDR kept where the encoder can (and
    `keep_hdr`), else tone-mapped to SDR BT.709."""
    if colour.dolby_vision_without_base_layer:
        raise dolby_vision_profile_5(colour)
    if colour.dolby_vision is not None and encoder.name in _DOLBY_VISION_WRAPPERS:
        encoder = _with(encoder, ("dolbyvision", "0"))
    if not colour.is_hdr:
        return VideoTreatment(encoder)
    kind = "HDR10" if colour.dynamic_range is DynamicRange.PQ else "HLG"
    dolby = (
        f" The Dolby Vision layer is not carried over: its {kind} base layer is."
        if colour.dolby_vision is not None
        else ""
    )
    if keep_hdr and encoder.name in HDR_ENCODERS:
        tags = _colour_options(colour)
        params: tuple[str, ...] = ()
        extra: tuple[tuple[str, str], ...] = ()
        if encoder.name == "libx265":
            params = tuple(x265_hdr_params(colour))
        elif encoder.name == "libsvtav1":
            params = tuple(svtav1_hdr_params(colour))
        elif encoder.name == "libvpx-vp9":
            extra = (("profile", "2"),)
        kept = _with(encoder, ("pix_fmt", HDR_PIXEL_FORMAT), *tags, *extra)
        carried = [
            name
            for name, present in (
                ("mastering display", colour.mastering is not None),
                ("content light level", colour.light_level is not None),
            )
            if present and encoder.name in ("libx265", "libsvtav1")
        ]
        metadata = f" and its {' and '.join(carried)}" if carried else ""
        return VideoTreatment(
            kept,
            hdr="kept",
            note=f"{kind} kept: 10-bit {encoder.name} with its colour tags{metadata}.{dolby}",
            codec_params=params,
        )
    toned = _with(encoder, ("pix_fmt", "yuv420p"), *_sdr_options())
    why = "asked for SDR" if not keep_hdr else f"{encoder.name} cannot carry HDR"
    return VideoTreatment(
        toned,
        tonemap=tonemap_to_sdr(colour),
        hdr="tone-mapped",
        note=f"{kind} tone-mapped to SDR BT.709 ({why}).{dolby}",
    )


def params_args(treatment: VideoTreatment, spec: str, own: tuple[str, ...] = ()) -> list[str]:
    """`-x265-params:SPEC a=b:c=d` (or SVT-AV1's) joining the treatment's and `own`."""
    option = _params_option(treatment.encoder.name)
    entries = [*own, *treatment.codec_params]
    if option is None or not entries:
        return []
    return [f"-{option}:{spec}", ":".join(entries)]


def _colour_options(colour: ColourInfo) -> tuple[tuple[str, str], ...]:
    transfer = "smpte2084" if colour.dynamic_range is DynamicRange.PQ else "arib-std-b67"
    return (
        ("color_primaries", colour.primaries or "bt2020"),
        ("color_trc", transfer),
        ("colorspace", colour.matrix or "bt2020nc"),
        ("color_range", colour.range or "tv"),
    )


def _sdr_options() -> tuple[tuple[str, str], ...]:
    return (
        ("color_primaries", "bt709"),
        ("color_trc", "bt709"),
        ("colorspace", "bt709"),
        ("color_range", "tv"),
    )
