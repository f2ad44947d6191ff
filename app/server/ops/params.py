"""Parsing the parameters of the media ops (SPEC §2.1), before any payload byte is stored.

Every function takes the request's JSON object and returns a plain JSON value (jobs are
persisted with their params) or raises BAD_PARAMS with a solution. Values are checked by
type, then by range: no bools for numbers, no NaN or infinity, no strings where a number
belongs, and strings only in strict shapes (`HH:MM:SS.mmm`, `16:9`, `720p`, `192k`). Only
what passes here ever reaches an FFmpeg argument list.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Final

from app.media.argv import Span
from app.media.geometry import MAX_SIDE, MIN_SIDE
from app.media.probe import MediaInfo
from app.server.ops.base import bad_params

MAX_TIME_S: Final = 100 * 3600  # no upload is longer; keeps floats far from huge
MAX_SPAN_S: Final = 60.0  # SPEC §2.1: gif and webm spans are at most 60 s
PRESETS: Final = {"480p": 480, "720p": 720, "1080p": 1080, "1440p": 1440, "2160p": 2160}
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


def _shown(value: object) -> str:
    """A client's value, quoted and cut short, safe to put in an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: object) -> bool:
    """A JSON number that is not a bool, NaN or infinite (huge ints are fine: compared only)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def dimension(doc: dict[str, Any], key: str) -> int | None:
    """An even number of pixels, 16..7680, or None when absent."""
    value = doc.get(key)
    if value is None:
        return None
    example = f'Send e.g. "{key}": 1280 (an even whole number, {MIN_SIDE}..{MAX_SIDE}).'
    if not _is_number(value) or value != int(value):
        raise bad_params(f"'{key}' must be a whole number of pixels; got {_shown(value)}.", example)
    pixels = int(value)
    if not MIN_SIDE <= pixels <= MAX_SIDE:
        raise bad_params(f"'{key}' {pixels} is outside {MIN_SIDE}..{MAX_SIDE}.", example)
    if pixels % 2:
        raise bad_params(
            f"'{key}' {pixels} is odd; video in 4:2:0 needs even sides.",
            f'Send "{key}": {pixels - 1} or {pixels + 1}.',
        )
    return pixels


def seconds(doc: dict[str, Any], key: str) -> float | None:
    """A time in seconds: a number, or a string `SS.mmm`, `MM:SS.mmm` or `HH:MM:SS.mmm`."""
    value = doc.get(key)
    if value is None:
        return None
    solution = f'Send e.g. "{key}": 12.5 or "{key}": "00:00:12.500" (0 or more seconds).'
    if isinstance(value, str):
        match = _CLOCK_RE.fullmatch(value.strip())
        if match is None or (match["m"] is not None and int(match["m"]) >= 60 and match["h"]):
            raise bad_params(f"'{key}' is not a time: {_shown(value)}.", solution)
        if match["secs"] is not None:
            total = float(match["secs"])
        else:
            if float(match["s"]) >= 60:
                raise bad_params(f"'{key}' {_shown(value)} has 60 or more seconds.", solution)
            total = int(match["h"] or 0) * 3600 + int(match["m"]) * 60 + float(match["s"])
    elif _is_number(value):
        total = float(value)
    else:
        raise bad_params(f"'{key}' must be a number of seconds; got {_shown(value)}.", solution)
    if total < 0:
        raise bad_params(f"'{key}' {total:g} is negative; times count from 0.", solution)
    if total > MAX_TIME_S:
        raise bad_params(f"'{key}' {total:g} s is longer than any upload can be.", solution)
    return round(total, 3)


def span(doc: dict[str, Any]) -> dict[str, float | None]:
    """`start` (default 0) and `end` (default: the end of the video), checked statically;
    `resolve_span` checks them against the probed duration."""
    start = seconds(doc, "start") or 0.0
    end = seconds(doc, "end")
    if end is not None:
        if end <= start:
            raise bad_params(
                f"end {end:g} is not after start {start:g}.",
                "Pick an end later than the start, e.g. start 3 and end 6.",
            )
        if round(end - start, 3) > MAX_SPAN_S:  # times are whole milliseconds
            raise bad_params(
                f"The span {start:g}..{end:g} s is {end - start:g} s long; "
                f"at most {MAX_SPAN_S:g} s are allowed.",
                f"Pick end ≤ {start + MAX_SPAN_S:g}, or a later start.",
            )
    return {"start": start, "end": end}


# A range may end this far past the probed duration and be clamped: containers round
# durations (to ms, or to the last packet's end) differently from what a player shows.
DURATION_ROUNDING_S: Final = 0.005
# A start clamped back from the very end keeps this much: a GIF at a low rate needs a
# frame's worth of its own to show anything.
CLAMPED_START_TAIL_S: Final = 0.1


def resolve_span(params: dict[str, Any], info: MediaInfo) -> Span:
    """The requested range against the input's duration (refusals say what would fit).

    An end past the duration by less than one frame (or the probe's rounding) is
    clamped to it, and a start at the very end moves back to the video's last moments
    (a frame, at least 0.1 s): players show such times as the end (SPEC §3.1)."""
    duration = math.floor(info.duration_s * 1000) / 1000
    if duration <= 0:
        raise bad_params(
            "The file does not say how long it is, so a time range cannot be checked.",
            "Remux the file (e.g. convert it to mp4) and try again.",
        )
    fps = info.video.fps if info.video is not None and info.video.fps > 0 else 0.0
    slack = max(DURATION_ROUNDING_S, 1 / fps if fps else 0.0)
    tail = max(CLAMPED_START_TAIL_S, round(1 / fps, 3) if fps else 0.0)
    start = float(params["start"])
    if start >= duration:
        if start > duration + slack:
            raise bad_params(
                f"start {start:g} is at or past the end of the video ({duration:g} s).",
                f"Pick start < {duration:g}.",
            )
        start = max(0.0, round(duration - tail, 3))
    end = params.get("end")
    if end is None:
        end = min(duration, start + MAX_SPAN_S)
        if round(duration - start, 3) > MAX_SPAN_S:
            raise bad_params(
                f"From start {start:g} to the end of the video is {duration - start:g} s; "
                f"at most {MAX_SPAN_S:g} s are allowed.",
                f"Give an end, e.g. end {end:g}.",
            )
    elif float(end) > duration:
        if float(end) > duration + slack:
            raise bad_params(
                f"end {float(end):g} is past the video's {duration:g} s duration.",
                f"Pick end ≤ {duration:g}.",
            )
        end = duration
    if float(end) <= start:  # a start clamped to the end
        end = duration
    return Span(start, float(end))


def span_report(params: dict[str, Any], span: Span) -> dict[str, Any]:
    """The range used, and a note when it is not the one asked (clamped to the video)."""
    doc: dict[str, Any] = {"start": span.start_s, "end": span.end_s}
    asked_start, asked_end = float(params["start"]), params.get("end")
    if asked_start != span.start_s or (asked_end is not None and float(asked_end) != span.end_s):
        asked = f"{asked_start:g}..{'end' if asked_end is None else f'{float(asked_end):g}'}"
        doc["note"] = (
            f"The range {asked} s reaches past the video's end by less than a frame; "
            f"used {span.start_s:g}..{span.end_s:g} s."
        )
    return doc


def flag(doc: dict[str, Any], key: str) -> bool:
    """A JSON boolean (absent: false)."""
    value = doc.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_params(
            f"'{key}' must be true or false; got {_shown(value)}.", f'Send "{key}": true.'
        )
    return value


def preset(doc: dict[str, Any]) -> int | None:
    """`480p` .. `2160p` as the number of lines, or None when absent."""
    value = doc.get("preset")
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in PRESETS:
        raise bad_params(
            f"'preset' must be one of {', '.join(PRESETS)}; got {_shown(value)}.",
            'Send e.g. "preset": "720p", or width/height instead.',
        )
    return PRESETS[value.lower()]


def ratio(doc: dict[str, Any]) -> str:
    """`W:H` (e.g. `16:9`, `2.39:1`) between 1:10 and 10:1, returned reduced (`16:9`)."""
    value = doc.get("ratio")
    solution = 'Send e.g. "ratio": "16:9" (also 4:3, 1:1, 9:16, 21:9, 2.39:1).'
    if value is None:
        raise bad_params("'ratio' is required: the display aspect ratio to produce.", solution)
    match = _RATIO_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise bad_params(f"'ratio' must look like 16:9; got {_shown(value)}.", solution)
    width, height = Fraction(match[1]), Fraction(match[2])
    if width == 0 or height == 0 or not MIN_RATIO <= width / height <= MAX_RATIO:
        raise bad_params(
            f"'ratio' {value} is outside 1:10..10:1.", "Pick a ratio between 1:10 and 10:1."
        )
    reduced = width / height
    return f"{reduced.numerator}:{reduced.denominator}"


def ratio_fraction(text: str) -> Fraction:
    """The value of a ratio that `ratio` already accepted."""
    width, _, height = text.partition(":")
    return Fraction(int(width), int(height))


def number(doc: dict[str, Any], key: str, low: float, high: float, example: float) -> float | None:
    """A finite number in low..high, or None when absent."""
    value = doc.get(key)
    if value is None:
        return None
    if not _is_number(value) or not low <= value <= high:
        raise bad_params(
            f"'{key}' must be a number from {low:g} to {high:g}; got {_shown(value)}.",
            f'Send e.g. "{key}": {example:g}.',
        )
    return float(value)


def whole_number(doc: dict[str, Any], key: str, low: int, high: int, example: int) -> int | None:
    """A whole number in low..high (any parity), or None when absent."""
    value = number(doc, key, low, high, example)
    if value is not None and value != int(value):
        raise bad_params(
            f"'{key}' must be a whole number; got {value:g}.", f'Send "{key}": {example}.'
        )
    return None if value is None else int(value)


def mp3_bitrate(doc: dict[str, Any]) -> int | None:
    """kbit/s, one of the MP3 (MPEG-1 Layer III) rates: 192 or "192k"."""
    value = doc.get("bitrate")
    if value is None:
        return None
    kbps: int | None = None
    if isinstance(value, str) and (match := _BITRATE_RE.fullmatch(value.strip())):
        kbps = int(match[1])
    elif _is_number(value) and value == int(value):
        kbps = int(value)
    if kbps not in MP3_BITRATES_KBPS:
        raise bad_params(
            f"'bitrate' must be an MP3 bit rate in kbit/s; got {_shown(value)}.",
            f"Pick one of {', '.join(map(str, MP3_BITRATES_KBPS))} (e.g. 192), or leave it "
            "out for variable bit rate (~190k).",
        )
    return kbps
