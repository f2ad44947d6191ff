"""The kinds of request field: how each checks a JSON value and reads a typed text.

A field is declared once (name, label, help, range, default) in `app.protocol.ops.table`
and every consumer is generated from it: the server's static check (`parse`), the CLI's
flag (`from_text`, `help`, `metavar`), the TUI's form field (`label`, `choices`,
`examples`). A refusal is a `BadParam`: the error JSON's description and solution, plus
a short phrase a form shows next to the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.protocol.errors import ErrorCode, VcsError

# A number as people type it: 12, -3, 12.5, .5, 1e3 (ASCII digits only).
_NUMBER_TEXT_RE: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INT_TEXT_RE: Final = re.compile(r"[+-]?\d{1,30}", re.ASCII)


class BadParam(VcsError):
    """A field's value is refused: `bad_params` with a solution; `short` is for forms."""

    def __init__(self, field: str, short: str, description: str, solution: str) -> None:
        super().__init__(ErrorCode.BAD_PARAMS, description, solution)
        self.field = field
        self.short = short

    @property
    def description(self) -> str:
        return self.info.description

    @property
    def solution(self) -> str:
        return self.info.solution


def shown(value: object) -> str:
    """A client's value, quoted and cut short, safe to put in an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_json_number(value: object) -> bool:
    """A number that is not a bool, NaN or infinite (huge ints are fine: only compared)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def number_from_text(text: str) -> object:
    """A typed number as the JSON number it stands for; any other text as typed."""
    text = text.strip()
    if _INT_TEXT_RE.fullmatch(text):
        return int(text)
    if _NUMBER_TEXT_RE.fullmatch(text):
        return float(text)  # a long digit string becomes inf, which checks refuse
    return text


@dataclass(frozen=True, kw_only=True)
class Field:
    """One JSON field of a request. Subclasses say what a value may be (`check`)."""

    name: str
    # The TUI's label and the CLI's help sentence (what the value means to a user).
    label: str
    help: str
    required: bool = False
    # The JSON value the server uses when the field is absent (None: none, or one it
    # picks for each input, which `default_text` then describes).
    default: object = None
    default_text: str = ""
    metavar: str = "VALUE"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def range_text(self) -> str:
        """What a value may be, in a few words (CLI help, TUI hint)."""
        return ""

    @property
    def choices(self) -> tuple[str, ...]:
        """Every value accepted, when they are few (a TUI select); else ()."""
        return ()

    @property
    def examples(self) -> tuple[str, ...]:
        """Typical values of an open-ended field (shown as hints)."""
        return ()

    @property
    def default_shown(self) -> str:
        if self.default_text or self.default is None:
            return self.default_text
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    def parse(self, doc: Mapping[str, Any]) -> Any:
        """The server's static check: the field of `doc`, checked and normalised."""
        value = doc.get(self.name)
        if value is None:
            if self.required:
                raise self.missing()
            return None if self.default is None else self.check(self.default)
        return self.check(value)

    def check(self, value: object) -> Any:
        """A present JSON value, normalised, or BadParam."""
        raise NotImplementedError

    def from_text(self, text: str) -> object:
        """The JSON value a typed text stands for (checked afterwards by `check`)."""
        return text.strip()

    def missing(self) -> VcsError:
        return BadParam(
            self.name,
            "required",
            f"'{self.name}' is required: {self.help}.",
            f'Send e.g. "{self.name}": {self._example_json()}.',
        )

    def refuse(self, short: str, description: str, solution: str = "") -> BadParam:
        return BadParam(
            self.name,
            short,
            description,
            solution or f'Send e.g. "{self.name}": {self._example_json()}.',
        )

    def _example_json(self) -> str:
        sample = next(iter(self.choices or self.examples), None)
        return f'"{sample}"' if sample is not None else "..."


@dataclass(frozen=True, kw_only=True)
class Number(Field):
    """A JSON number in low..high; `whole` refuses fractions, `even` odd numbers."""

    low: float
    high: float
    whole: bool = False
    even: bool = False
    unit: str = ""
    example: float = 0
    metavar: str = "N"

    @property
    def range_text(self) -> str:
        return ("even, " if self.even else "") + f"{self.low:g}..{self.high:g}"

    def from_text(self, text: str) -> object:
        return number_from_text(text)

    def check(self, value: object) -> int | float:
        kind = "a whole number" if self.whole else "a number"
        of = f" of {self.unit}" if self.unit else ""
        solution = f'Send e.g. "{self.name}": {self.example:g} ({self.range_text}).'
        if not is_json_number(value):
            raise self.refuse(
                kind, f"'{self.name}' must be {kind}{of}; got {shown(value)}.", solution
            )
        assert isinstance(value, int | float)
        # Compared before any conversion: a 4000-digit integer cannot become a float.
        if not self.low <= value <= self.high:
            bounds = f"{self.low:g}..{self.high:g}"
            raise self.refuse(
                bounds, f"'{self.name}' {shown(value)} is outside {bounds}.", solution
            )
        if self.whole and value != int(value):
            raise self.refuse(
                kind, f"'{self.name}' must be a whole number; got {value:g}.", solution
            )
        if self.even and int(value) % 2:
            n = int(value)
            raise self.refuse(
                "an even number",
                f"'{self.name}' {n} is odd; video in 4:2:0 needs even sides.",
                f'Send "{self.name}": {n - 1} or {n + 1}.',
            )
        return int(value) if self.whole else float(value)


@dataclass(frozen=True, kw_only=True)
class Choice(Field):
    """One of a few names, in any case."""

    options: tuple[str, ...]

    @property
    def choices(self) -> tuple[str, ...]:
        return self.options

    @property
    def range_text(self) -> str:
        return ", ".join(self.options)

    def check(self, value: object) -> str:
        if not isinstance(value, str) or value.lower() not in self.options:
            raise self.refuse(
                f"one of {', '.join(self.options)}",
                f"'{self.name}' must be one of {', '.join(self.options)}; got {shown(value)}.",
                f"Pick {self.name} from: {', '.join(self.options)}.",
            )
        return value.lower()


@dataclass(frozen=True, kw_only=True)
class Flag(Field):
    """A JSON true or false (absent: false). The CLI gives it as a bare `--flag`, the TUI
    as a yes/no select."""

    default: object = False

    @property
    def choices(self) -> tuple[str, ...]:
        return ("yes", "no")

    @property
    def range_text(self) -> str:
        return "true or false"

    def from_text(self, text: str) -> object:
        answer = text.strip().lower()
        return {"yes": True, "true": True, "no": False, "false": False}.get(answer, text)

    def check(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.refuse(
                "yes or no",
                f"'{self.name}' must be true or false; got {shown(value)}.",
                f'Send "{self.name}": true, or leave it out.',
            )
        return value
