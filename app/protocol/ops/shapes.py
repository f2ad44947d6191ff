"""Fields whose strings have a strict shape: times, ratios, MP3 bit rates, format names.

Only values that pass these ever reach an FFmpeg argument list; the shapes are ASCII
and bounded in length, so a float made from them is never huge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from app.protocol.ops.fields import Field, is_json_number, number_from_text, shown

MAX_TIME_S: Final = 100 * 3600  # no upload is longer; keeps floats far from huge
TIME_SHAPES: Final = "seconds (12.5) or [HH:]MM:SS[.mmm] (00:01:02.5)"
MIN_RATIO: Final = Fraction(1, 10)
MAX_RATIO: Final = Fraction(10, 1)
MP3_BITRATES_KBPS: Final = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)

# 75, 75.5, 1:15, 1:15.250, 01:01:15.250 (hours up to 3 digits, minutes/seconds < 60).
_CLOCK_RE: Final = re.compile(
    r"(?:(?:(?P<h>\d{1,3}):)?(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d{1,6})?)"
    r"|(?P<secs>\d{1,6}(?:\.\d{1,6})?))",
    re.ASCII,
)
_RATIO_RE: Final = re.compile(r"(\d{1,5}(?:\.\d{1,3})?):(\d{1,5}(?:\.\d{1,3})?)", re.ASCII)
_BITRATE_RE: Final = re.compile(r"(\d{2,3})k?", re.ASCII | re.IGNORECASE)
_FORMAT_RE: Final = re.compile(r"[a-z0-9_]{1,32}", re.ASCII)


@dataclass(frozen=True, kw_only=True)
class Time(Field):
    """Seconds from the start: a number, or a string `SS.mmm`, `MM:SS.mmm`, `HH:MM:SS.mmm`.
    Normalised to seconds rounded to the millisecond."""

    metavar: str = "TIME"

    @property
    def range_text(self) -> str:
        return TIME_SHAPES

    @property
    def examples(self) -> tuple[str, ...]:
        return ("12.5", "1:02.5", "00:01:02.500")

    def from_text(self, text: str) -> object:
        return number_from_text(text)

    def check(self, value: object) -> float:
        solution = (
            f'Send e.g. "{self.name}": 12.5 or "{self.name}": "00:00:12.500" (0 or more seconds).'
        )
        if isinstance(value, str):
            total = self._clock(value, solution)
        elif is_json_number(value):
            assert isinstance(value, int | float)
            if value < 0:
                raise self.refuse(
                    "0 or more seconds",
                    f"'{self.name}' {shown(value)} is negative; times count from 0.",
                    solution,
                )
            total = value
        else:
            raise self.refuse(
                "a time",
                f"'{self.name}' must be a number of seconds; got {shown(value)}.",
                solution,
            )
        # Compared before any conversion: a 4000-digit integer cannot become a float.
        if total > MAX_TIME_S:
            raise self.refuse(
                f"at most {MAX_TIME_S} s",
                f"'{self.name}' {shown(value)} s is longer than any upload can be.",
                solution,
            )
        return round(float(total), 3)

    def _clock(self, value: str, solution: str) -> float:
        match = _CLOCK_RE.fullmatch(value.strip())
        if match is None or (match["m"] is not None and int(match["m"]) >= 60 and match["h"]):
            raise self.refuse(
                "a time, e.g. 12.5 or 00:01:02.5",
                f"'{self.name}' is not a time: {shown(value)}.",
                solution,
            )
        if match["secs"] is not None:
            return float(match["secs"])
        if float(match["s"]) >= 60:
            raise self.refuse(
                "seconds must be < 60",
                f"'{self.name}' {shown(value)} has 60 or more seconds.",
                solution,
            )
        return int(match["h"] or 0) * 3600 + int(match["m"]) * 60 + float(match["s"])


@dataclass(frozen=True, kw_only=True)
class Ratio(Field):
    """`W:H` (16:9, 2.39:1) between 1:10 and 10:1, normalised reduced (`32:18` → `16:9`)."""

    metavar: str = "W:H"

    @property
    def range_text(self) -> str:
        return "W:H, 1:10..10:1"

    @property
    def examples(self) -> tuple[str, ...]:
        return ("16:9", "2.39:1", "4:3", "1:1", "9:16", "21:9")

    def check(self, value: object) -> str:
        solution = f'Send e.g. "{self.name}": "16:9" (also 4:3, 1:1, 9:16, 21:9, 2.39:1).'
        match = _RATIO_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise self.refuse(
                "W:H, e.g. 16:9 or 2.39:1",
                f"'{self.name}' must look like 16:9; got {shown(value)}.",
                solution,
            )
        width, height = Fraction(match[1]), Fraction(match[2])
        if width == 0 or height == 0 or not MIN_RATIO <= width / height <= MAX_RATIO:
            raise self.refuse(
                "between 1:10 and 10:1",
                f"'{self.name}' {shown(value)} is outside 1:10..10:1.",
                "Pick a ratio between 1:10 and 10:1.",
            )
        reduced = width / height
        return f"{reduced.numerator}:{reduced.denominator}"


def ratio_fraction(text: str) -> Fraction:
    """The value of a ratio that `Ratio.check` already normalised."""
    width, _, height = text.partition(":")
    return Fraction(int(width), int(height))


@dataclass(frozen=True, kw_only=True)
class Mp3Bitrate(Field):
    """kbit/s, one of the MPEG-1 Layer III rates: 192 or "192k"."""

    metavar: str = "KBPS"

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(f"{kbps}k" for kbps in MP3_BITRATES_KBPS)

    @property
    def range_text(self) -> str:
        return ", ".join(map(str, MP3_BITRATES_KBPS)) + " (192k works too)"

    def from_text(self, text: str) -> object:
        return number_from_text(text)

    def check(self, value: object) -> int:
        kbps: int | None = None
        if isinstance(value, str) and (match := _BITRATE_RE.fullmatch(value.strip())):
            kbps = int(match[1])
        elif is_json_number(value):
            assert isinstance(value, int | float)
            kbps = int(value) if value == int(value) else None
        if kbps not in MP3_BITRATES_KBPS:
            raise self.refuse(
                "an MP3 bit rate, e.g. 192k",
                f"'{self.name}' must be an MP3 bit rate in kbit/s; got {shown(value)}.",
                f"Pick one of {', '.join(map(str, MP3_BITRATES_KBPS))} (e.g. 192), or leave it "
                "out for variable bit rate (~190k).",
            )
        return kbps


@dataclass(frozen=True, kw_only=True)
class FormatName(Field):
    """The shape of an FFmpeg muxer name (`mkv`, `mpegts`, `mp4`); which names exist is
    the server's FFmpeg's to say, so the server checks that part itself."""

    metavar: str = "FORMAT"

    @property
    def range_text(self) -> str:
        return "a format name: letters, digits, _"

    @property
    def examples(self) -> tuple[str, ...]:
        return ("mkv", "mp4", "mov", "webm", "avi", "ts", "flv")

    def from_text(self, text: str) -> object:
        return text.strip().lower().lstrip(".")  # ".MKV" as a file extension is typed

    def check(self, value: object) -> str:
        name = value.strip().lower() if isinstance(value, str) else ""
        if not _FORMAT_RE.fullmatch(name):
            raise self.refuse(
                "letters, digits and _, e.g. mkv",
                f"'{self.name}' must be a format name like mkv; got {shown(value)}.",
                f'Send e.g. "{self.name}": "mkv" ({", ".join(self.examples[:5])}, ...).',
            )
        return name
