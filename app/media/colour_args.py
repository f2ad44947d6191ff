"""FFmpeg options that keep a video's HDR, or tone-map it to SDR (SPEC §3.1). Pure.

Kept: 10 bits, the colour tags (primaries, transfer, matrix, range) and the mastering
display and content light metadata, written by the encoder itself (x265's
`master-display`/`max-cll`, SVT-AV1's `mastering-display`/`content-light`) so they are
in the bitstream as well as in the container. Tone-mapped: FFmpeg's `zscale` to linear
light, `tonemap` (Hable, the curve most players use) into BT.709 primaries, then BT.709
transfer and matrix in limited range, 8 bits.
"""

from __future__ import annotations

from typing import Final

from app.media.colour import ColourInfo, DynamicRange, MasteringDisplay

# Linear light with 1.0 = 100 cd/m² (SDR reference white): what the tonemap curve expects.
TONEMAP_NOMINAL_PEAK_NITS: Final = 100
SDR_PIXEL_FORMAT: Final = "yuv420p"
HDR_PIXEL_FORMAT: Final = "yuv420p10le"
# x265's and SVT-AV1's units: chromaticity in 0.00002, luminance in 0.0001 cd/m².
_X265_CHROMA_UNIT: Final = 50000
_X265_LUMA_UNIT: Final = 10000


def tonemap_to_sdr(colour: ColourInfo) -> str:
    """A filter chain turning HDR frames into SDR BT.709 (8-bit 4:2:0); "" for SDR.

    The frames are tagged with the input's colour first (`setparams`): a file we wrote
    ourselves (the compress op's raw samples) carries no tags, and zscale needs them."""
    if not colour.is_hdr:
        return ""
    transfer = "smpte2084" if colour.dynamic_range is DynamicRange.PQ else "arib-std-b67"
    tags = (
        f"setparams=range={'pc' if colour.range == 'pc' else 'tv'}"
        f":color_primaries={colour.primaries or 'bt2020'}:color_trc={transfer}"
        f":colorspace={colour.matrix or 'bt2020nc'}"
    )
    return ",".join(
        [
            tags,
            f"zscale=t=linear:npl={TONEMAP_NOMINAL_PEAK_NITS}",
            "format=gbrpf32le",
            "zscale=p=bt709",
            "tonemap=tonemap=hable:desat=0",
            "zscale=t=bt709:m=bt709:r=limited",
            f"format={SDR_PIXEL_FORMAT}",
        ]
    )


def _x265_point(point: tuple[float, float]) -> str:
    return f"({round(point[0] * _X265_CHROMA_UNIT)},{round(point[1] * _X265_CHROMA_UNIT)})"


def x265_master_display(m: MasteringDisplay) -> str:
    """x265's `master-display` string: G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)."""
    return (
        f"G{_x265_point(m.green)}B{_x265_point(m.blue)}R{_x265_point(m.red)}"
        f"WP{_x265_point(m.white)}"
        f"L({round(m.max_nits * _X265_LUMA_UNIT)},{round(m.min_nits * _X265_LUMA_UNIT)})"
    )


def x265_hdr_params(colour: ColourInfo) -> list[str]:
    """`-x265-params` entries keeping HDR: tags in the VUI, metadata in SEI, repeated at
    every keyframe (a cut or a seek still finds them)."""
    transfer = "smpte2084" if colour.dynamic_range is DynamicRange.PQ else "arib-std-b67"
    params = [
        f"colorprim={colour.primaries or 'bt2020'}",
        f"transfer={transfer}",
        f"colormatrix={colour.matrix or 'bt2020nc'}",
        f"range={'full' if colour.range == 'pc' else 'limited'}",
        "repeat-headers=1",
    ]
    if colour.dynamic_range is DynamicRange.PQ:
        params.append("hdr10=1")
    if colour.mastering is not None:
        params.append(f"master-display={x265_master_display(colour.mastering)}")
    if colour.light_level is not None:
        params.append(f"max-cll={colour.light_level.max_cll},{colour.light_level.max_fall}")
    return params


def svtav1_hdr_params(colour: ColourInfo) -> list[str]:
    """`-svtav1-params` entries carrying the mastering display and content light."""
    params = []
    if colour.mastering is not None:
        m = colour.mastering

        def point(p: tuple[float, float]) -> str:
            return f"({p[0]:.5f},{p[1]:.5f})"

        params.append(
            f"mastering-display=G{point(m.green)}B{point(m.blue)}R{point(m.red)}"
            f"WP{point(m.white)}L({m.max_nits:.4f},{m.min_nits:.4f})"
        )
    if colour.light_level is not None:
        params.append(f"content-light={colour.light_level.max_cll},{colour.light_level.max_fall}")
    return params
