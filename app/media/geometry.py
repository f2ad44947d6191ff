"""Frame sizes for resize, aspect, gif and webm, computed from the probed display shape.

Sizes are worked out on the *display* shape (SPEC §3.1): pixels × sample aspect ratio,
turned by the display matrix. An anamorphic input (720x576 shown at 16:9) is resized by
what a viewer sees, and so is a phone's portrait clip (3840x2160 coded, turned 90°:
2160x3840). FFmpeg turns the frames upright before our filters (orientation.py), so
every size here is in upright terms.
Outputs have square pixels, except that `aspect` sets the display aspect ratio
exactly (`setdar`), which may leave pixels a hair off square when the requested
ratio cannot be met with even pixel counts (320x240 padded to 16:9 is 426x240).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from app.media.probe import VideoInfo
from app.protocol.errors import ErrorCode, VcsError
from app.protocol.ops.table import MAX_SIDE_PX, MIN_SIDE_PX

# Every side of a result, as the op table allows them in requests.
MIN_SIDE: Final = MIN_SIDE_PX
MAX_SIDE: Final = MAX_SIDE_PX


class AspectMode(enum.StrEnum):
    PAD = "pad"  # letterbox / pillarbox: nothing of the picture is lost
    CROP = "crop"  # centre crop: the frame is filled, edges are lost
    STRETCH = "stretch"  # rescale: everything kept, shapes distorted


@dataclass(frozen=True, slots=True)
class Size:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True, slots=True)
class AspectPlan:
    """`square`: the input on square pixels (None when it already is); then `mode` makes
    `out` from it, and the display aspect ratio is set to exactly `ratio`."""

    square: Size | None
    source: Size
    out: Size
    mode: AspectMode
    ratio: Fraction


def display_aspect(video: VideoInfo) -> Fraction:
    """Width / height as shown: the container's display ratio (else the pixel ratio),
    inverted when the display matrix turns the picture a quarter turn."""
    if video.display_aspect and video.display_aspect > 0:
        coded = video.display_aspect
    else:
        coded = Fraction(video.width, video.height)
    return 1 / coded if video.orientation.swaps_sides else coded


def upright_pixels(video: VideoInfo) -> Size:
    """The decoded picture's pixels once turned upright (before any sample aspect)."""
    if video.orientation.swaps_sides:
        return Size(video.height, video.width)
    return Size(video.width, video.height)


def even(value: Fraction | int) -> int:
    """The nearest even number ≥ 2 (4:2:0 video needs even sides)."""
    return max(2, 2 * round(Fraction(value) / 2))


def _checked(size: Size, why: str, solution: str) -> Size:
    if not (MIN_SIDE <= size.width <= MAX_SIDE and MIN_SIDE <= size.height <= MAX_SIDE):
        raise VcsError(
            ErrorCode.BAD_PARAMS,
            f"{why} would give a {size} picture; each side must be {MIN_SIDE}..{MAX_SIDE}.",
            solution,
        )
    return size


def square_size(video: VideoInfo) -> Size:
    """The input's display size on square pixels, sides even (the coded picture's lines
    kept: its height, or its width once turned a quarter turn)."""
    if video.orientation.swaps_sides:
        return Size(even(video.height), even(video.height / display_aspect(video)))
    return Size(even(video.height * display_aspect(video)), even(video.height))


@dataclass(frozen=True, slots=True)
class ResizePlan:
    size: Size
    # Said to the user when the size is not the one asked (a preset never enlarges).
    note: str | None = None


def resize_size(
    video: VideoInfo,
    width: int | None,
    height: int | None,
    preset_lines: int | None,
    *,
    upscale: bool = False,
) -> ResizePlan:
    """Both sides given: exactly that. One side: the other follows the display shape.
    A preset (`720p`) sets the short side, so a portrait video stays portrait (720x1280),
    and never enlarges a video already that small unless `upscale` (SPEC §3.1)."""
    dar = display_aspect(video)
    shown = square_size(video)
    if preset_lines is not None:
        short_side = min(shown.width, shown.height)
        if short_side <= preset_lines and not upscale:
            return ResizePlan(
                shown,
                f"The video is {shown} ({short_side} lines), not larger than "
                f"{preset_lines}p: kept at its size. Pass upscale to enlarge it.",
            )
        if dar >= 1:
            width, height = None, preset_lines
        else:
            width, height = preset_lines, None
    if width is not None and height is not None:
        size = Size(width, height)
    elif width is not None:
        size = Size(width, even(width / dar))
    elif height is not None:
        size = Size(even(height * dar), height)
    else:
        raise ValueError("resize needs a width, a height or a preset")
    checked = _checked(
        size,
        f"Resizing this {shown} video that way",
        "Give both width and height, or a smaller size, so each side stays in range.",
    )
    return ResizePlan(checked)


def aspect_plan(video: VideoInfo, ratio: Fraction, mode: AspectMode) -> AspectPlan:
    square = square_size(video)
    shown = Fraction(square.width, square.height)
    if mode is AspectMode.STRETCH or (mode is AspectMode.PAD) == (ratio > shown):
        # Keep the height: stretch always; pad when the target is wider; crop when narrower.
        out = Size(even(square.height * ratio), square.height)
    else:
        out = Size(square.width, even(square.width / ratio))
    other = "crop" if mode is AspectMode.PAD else "pad"
    _checked(
        out,
        f"Mode {mode} to {ratio.numerator}:{ratio.denominator} on this {square} picture",
        f"Use mode {other}, or a ratio closer to the video's own "
        f"({shown.numerator}:{shown.denominator}).",
    )
    pixels = upright_pixels(video)
    return AspectPlan(
        square=None if square == pixels else square,
        source=square,
        out=out,
        mode=mode,
        ratio=ratio,
    )


def clip_size(video: VideoInfo, width: int | None, default_width: int, even_sides: bool) -> Size:
    """GIF/WEBM size: `width` (or the default) but never wider than the video (no upscaling)."""
    square = square_size(video)
    if width is not None and width > square.width:
        raise VcsError(
            ErrorCode.BAD_PARAMS,
            f"width {width} is wider than the video ({square.width} px shown); "
            "the server does not upscale.",
            f"Pick width ≤ {square.width}, or leave it out for the default.",
        )
    chosen = width if width is not None else min(default_width, square.width)
    exact = Fraction(chosen * square.height, square.width)
    size = Size(even(chosen), even(exact)) if even_sides else Size(chosen, max(1, round(exact)))
    return _checked(
        size,
        f"Width {chosen} on this {square} picture",
        "Pick a larger width; very wide or very tall videos need one.",
    )
