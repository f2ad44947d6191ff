"""The upload ops' parameters as a client sees them (SPEC §2.1), and their validation.

One table drives the TUI's forms (and can drive the CLI's flags): what each op takes, of
which type, in which range, with which choices. `validate` turns what a user typed into
the request JSON, or into one message per field, before anything reaches the network.
The server checks everything again; this is for answering while the user types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

ParamKind = Literal["int", "float", "choice", "ratio", "format", "flag"]

RESOLUTION_PRESETS: Final = ("480p", "720p", "1080p", "1440p", "2160p")
ASPECT_RATIOS: Final = ("16:9", "4:3", "1:1", "9:16", "21:9")
ASPECT_MODES: Final = ("pad", "crop", "stretch")
# Muxers every FFmpeg build we ship has; the server accepts any muxer its FFmpeg has.
OUTPUT_FORMATS: Final = ("mkv", "mp4", "mov", "webm", "avi", "ts", "flv")
AUDIO_BITRATES: Final = ("64k", "96k", "128k", "160k", "192k", "256k", "320k")
VIDEO_CODECS: Final = ("h264", "h265", "av1")
FLAG_CHOICES: Final = ("yes", "no")
MAX_CLIP_SPAN_S: Final = 60.0  # SPEC §2.1: gif and webm ranges span at most 60 s
MIN_SIDE_PX: Final = 16
MAX_SIDE_PX: Final = 7680
_FORMAT_RE: Final = re.compile(r"[a-z0-9]{1,16}", re.ASCII)
_RATIO_RE: Final = re.compile(r"(\d{1,4}):(\d{1,4})", re.ASCII)

# field name → message; "" holds a message about the whole form.
Errors = dict[str, str]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    label: str
    kind: ParamKind
    hint: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # Shown when the field is left empty: what the server does without it.
    default_text: str = ""
    even: bool = False


@dataclass(frozen=True, slots=True)
class OpSpec:
    name: str
    summary: str
    params: tuple[ParamSpec, ...]
    # Rules between fields, given the parsed values and the input's duration if known.
    cross_check: Callable[[dict[str, Any], float | None], Errors] = field(
        default=lambda values, duration_s: {}
    )

    def param(self, name: str) -> ParamSpec:
        return next(p for p in self.params if p.name == name)


@dataclass(frozen=True, slots=True)
class Validated:
    params: dict[str, Any]
    errors: Errors

    @property
    def ok(self) -> bool:
        return not self.errors


def _side(name: str, label: str) -> ParamSpec:
    return ParamSpec(
        name,
        label,
        "int",
        f"even, {MIN_SIDE_PX}..{MAX_SIDE_PX}",
        minimum=MIN_SIDE_PX,
        maximum=MAX_SIDE_PX,
        even=True,
        default_text="keeps the aspect",
    )


def _range_params() -> tuple[ParamSpec, ParamSpec]:
    return (
        ParamSpec("start", "start (s)", "float", "0 ≤ start < end", required=True, minimum=0),
        ParamSpec("end", "end (s)", "float", "≤ clip length", required=True, minimum=0),
    )


def _check_range(values: dict[str, Any], duration_s: float | None) -> Errors:
    """SPEC §2.1: 0 ≤ start < end ≤ duration, and the span is at most 60 s."""
    start, end = values.get("start"), values.get("end")
    errors: Errors = {}
    if duration_s is not None and start is not None and start >= duration_s:
        errors["start"] = f"must be before the end of the clip ({duration_s:.1f} s)"
    if duration_s is not None and end is not None and end > duration_s + 1e-6:
        errors["end"] = f"must be ≤ the clip's length, {duration_s:.1f} s"
    if start is not None and end is not None and "end" not in errors:
        if end <= start:
            errors["end"] = "must be after start"
        elif end - start > MAX_CLIP_SPAN_S:
            errors["end"] = f"the range may span at most {MAX_CLIP_SPAN_S:.0f} s"
    return errors


def _check_resize(values: dict[str, Any], duration_s: float | None) -> Errors:
    has_size = values.get("width") is not None or values.get("height") is not None
    if values.get("preset") is not None and has_size:
        return {"preset": "choose a preset or a width/height, not both"}
    if values.get("preset") is None and not has_size:
        return {"": "give a width, a height or a preset"}
    return {}


OPS: Final[dict[str, OpSpec]] = {
    spec.name: spec
    for spec in (
        OpSpec(
            "compress",
            "A smaller file that looks the same; the server picks the settings.",
            (
                ParamSpec(
                    "codec",
                    "codec",
                    "choice",
                    "h264 plays everywhere",
                    choices=VIDEO_CODECS,
                    default_text="h264",
                ),
                ParamSpec(
                    "target_vmaf",
                    "target VMAF",
                    "float",
                    "60..99: higher looks better, lower is smaller",
                    minimum=60,
                    maximum=99,
                    default_text="93",
                ),
            ),
        ),
        OpSpec(
            "resize",
            "Scale to a width and/or height, or to a standard resolution.",
            (
                _side("width", "width (px)"),
                _side("height", "height (px)"),
                ParamSpec(
                    "preset",
                    "preset",
                    "choice",
                    "the short side (portrait stays portrait)",
                    choices=RESOLUTION_PRESETS,
                    default_text="none",
                ),
                ParamSpec(
                    "upscale",
                    "upscale",
                    "flag",
                    "yes: a preset may enlarge",
                    choices=FLAG_CHOICES,
                    default_text="no: a smaller video keeps its size",
                ),
            ),
            _check_resize,
        ),
        OpSpec(
            "aspect",
            "Change the display aspect ratio by padding, cropping or stretching.",
            (
                ParamSpec("ratio", "ratio", "ratio", "W:H, e.g. 16:9", required=True),
                ParamSpec(
                    "mode",
                    "mode",
                    "choice",
                    "pad adds bars, crop cuts",
                    choices=ASPECT_MODES,
                    default_text="pad",
                ),
            ),
        ),
        OpSpec(
            "audio",
            "Extract the sound track as MP3.",
            (
                ParamSpec(
                    "bitrate",
                    "bitrate",
                    "choice",
                    "MP3 bit rate",
                    choices=AUDIO_BITRATES,
                    default_text="server's choice",
                ),
            ),
        ),
        OpSpec(
            "gif",
            "An animated GIF of a range (at most 60 s).",
            (
                *_range_params(),
                # The server's gif limits (issue 4): fps 1..30, width 16..1280.
                ParamSpec("fps", "fps", "float", "1..30", minimum=1, maximum=30, default_text="12"),
                ParamSpec(
                    "width",
                    "width (px)",
                    "int",
                    f"{MIN_SIDE_PX}..1280",
                    minimum=MIN_SIDE_PX,
                    maximum=1280,
                    default_text="source, at most 480",
                ),
            ),
            _check_range,
        ),
        OpSpec(
            "webm",
            "A WEBM (VP9 + Opus) clip of a range (at most 60 s).",
            (
                *_range_params(),
                _side("width", "width (px)"),
                ParamSpec(
                    "keep_hdr",
                    "keep HDR",
                    "flag",
                    "yes: VP9 10-bit HDR",
                    choices=FLAG_CHOICES,
                    default_text="no: tone-mapped to SDR",
                ),
            ),
            _check_range,
        ),
        OpSpec(
            "convert",
            "The same streams in another container format.",
            (
                ParamSpec(
                    "format",
                    "format",
                    "format",
                    "an FFmpeg muxer, e.g. mkv",
                    required=True,
                    choices=OUTPUT_FORMATS,
                ),
            ),
        ),
    )
}


def _parse_number(spec: ParamSpec, text: str) -> tuple[float | int | None, str | None]:
    try:
        value: float | int = int(text) if spec.kind == "int" else float(text)
    except ValueError:
        return None, "a whole number" if spec.kind == "int" else "a number of seconds"
    if not math.isfinite(value):
        return None, "a finite number"
    if spec.minimum is not None and value < spec.minimum:
        return None, f"at least {spec.minimum:g}"
    if spec.maximum is not None and value > spec.maximum:
        return None, f"at most {spec.maximum:g}"
    if spec.even and int(value) % 2:
        return None, "an even number"
    return value, None


def parse_field(spec: ParamSpec, text: str) -> tuple[Any, str | None]:
    """One field's value (None when left empty) or why it is wrong."""
    text = text.strip()
    if not text:
        return None, "required" if spec.required else None
    if spec.kind in ("int", "float"):
        return _parse_number(spec, text)
    if spec.kind == "flag":
        answer = text.lower()
        if answer not in ("yes", "no", "true", "false", "y", "n"):
            return None, "yes or no"
        return answer in ("yes", "true", "y"), None
    if spec.kind == "choice":
        value = text.lower()
        if value not in spec.choices:
            return None, f"one of {', '.join(spec.choices)}"
        return value, None
    if spec.kind == "ratio":
        match = _RATIO_RE.fullmatch(text)
        if not match or not int(match[1]) or not int(match[2]):
            return None, "W:H with whole numbers, e.g. 16:9"
        return text, None
    value = text.lower().lstrip(".")
    return (value, None) if _FORMAT_RE.fullmatch(value) else (None, "letters and digits, e.g. mkv")


def validate(op: str, raw: Mapping[str, str], duration_s: float | None = None) -> Validated:
    """The request parameters for `op` from the texts a user typed, or the errors."""
    spec = OPS[op]
    values: dict[str, Any] = {}
    errors: Errors = {}
    for param in spec.params:
        value, error = parse_field(param, raw.get(param.name, ""))
        if error is not None:
            errors[param.name] = error
        elif value is not None:
            values[param.name] = value
    for name, error in spec.cross_check(values, duration_s).items():
        if name or not errors:  # "give a width…" only says something once fields are valid
            errors.setdefault(name, error)
    return Validated(values if not errors else {}, errors)
