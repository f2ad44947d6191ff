"""How a player turns a video's coded picture upright: its display matrix (SPEC §3.1).

Phones store the picture as the sensor saw it (3840x2160) and a display matrix saying
how to turn it (rotate 90° clockwise: shown as 2160x3840). FFmpeg applies the matrix
when it decodes for a filter graph (`-autorotate`, on by default), so every frame our
filters see is already upright: sizes are planned in *display* dimensions, and encoded
outputs carry no rotation tag. Stream copies keep the tag as it was.

The matrix is read here the way FFmpeg's own autorotation reads it (fftools: the angle
of `av_display_rotation_get`, rounded, and a reflection when the determinant is
negative), so our sizes and FFmpeg's frames always agree.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final

# Nine 32-bit integers, native byte order: a b u / c d v / x y w (a..d in 16.16).
DISPLAY_MATRIX_BYTES: Final = 36


@dataclass(frozen=True, slots=True)
class Orientation:
    """The turn a player applies to the coded picture: `rotation` degrees clockwise
    (0, 90, 180 or 270), and a reflection (a mirror image) when `mirrored`."""

    rotation: int = 0
    mirrored: bool = False

    @property
    def swaps_sides(self) -> bool:
        """Shown with width and height exchanged (portrait phone video)."""
        return self.rotation in (90, 270)

    @property
    def is_upright(self) -> bool:
        return self.rotation == 0 and not self.mirrored

    def describe(self) -> str:
        if self.is_upright:
            return "upright"
        turn = f"rotated {self.rotation}° clockwise" if self.rotation else ""
        return ", ".join(part for part in (turn, "mirrored" if self.mirrored else "") if part)


UPRIGHT: Final = Orientation()


def orientation_from_matrix(matrix: tuple[int, ...]) -> Orientation:
    """The orientation a 3x3 display matrix (row-major, 9 ints) describes."""
    a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
    scale_x, scale_y = math.hypot(a, c), math.hypot(b, d)
    if scale_x == 0 or scale_y == 0:
        return UPRIGHT  # degenerate: FFmpeg ignores it too
    # FFmpeg: theta = -round(av_display_rotation_get(m)), the clockwise turn to apply.
    clockwise = round(math.degrees(math.atan2(b / scale_y, a / scale_x)))
    # Players only turn by quarter turns; odd angles (rare) are taken to the nearest.
    quarter = round((clockwise % 360) / 90) % 4
    return Orientation(rotation=90 * quarter, mirrored=(a * d - b * c) < 0)


def parse_display_matrix(data: bytes) -> Orientation:
    """The orientation in FFmpeg's display matrix side data (36 bytes); upright when the
    data is not one."""
    if len(data) != DISPLAY_MATRIX_BYTES:
        return UPRIGHT
    return orientation_from_matrix(struct.unpack("=9i", data))
