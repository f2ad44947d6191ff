"""The op form's rules: the op table's, applied to what a user typed.

Each field's text becomes the JSON value it stands for (`Field.from_text`), which the
table's own check then judges — the very check the server runs — so the form accepts
exactly what the server accepts. With the clips' probed duration, a time range is also
fitted to it (`fit_span`, as the server does once it has probed the upload).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.protocol.ops import UPLOAD_OPS, BadParam, Choice, Field, fit_span

# field name → short message; "" holds a message about the whole form.
Errors = dict[str, str]


@dataclass(frozen=True, slots=True)
class Validated:
    params: dict[str, Any]
    errors: Errors
    # The first problem in full (description and solution), for a notification.
    first: BadParam | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def is_select(field: Field) -> bool:
    """A field whose every value fits in a list (codec, mode, preset, MP3 bit rate)."""
    return bool(field.choices)


def hint(field: Field) -> str:
    """What the field takes and its default, shown beside an empty or valid field."""
    if isinstance(field, Choice):  # the select lists the values and shows the default
        return field.help
    what = "e.g. " + ", ".join(field.examples[:2]) if field.examples else field.range_text
    default = field.default_shown
    tail = "required" if field.required else f"default {default}" if default else ""
    return " · ".join(part for part in (what, tail) if part)


def request_of(op: str, texts: Mapping[str, str]) -> dict[str, Any]:
    """The request parameters the typed texts stand for (empty fields left out)."""
    doc: dict[str, Any] = {}
    for field in UPLOAD_OPS[op].fields:
        text = texts.get(field.name, "").strip()
        if text:
            doc[field.name] = field.from_text(text)
    return doc


def validate(
    op: str, texts: Mapping[str, str], duration_s: float | None = None, frame_s: float = 0.0
) -> Validated:
    """The request parameters for `op` from the texts a user typed, or the problems
    (a range fitted to `duration_s` as the server fits it, within a `frame_s` frame)."""
    doc = request_of(op, texts)
    checked = UPLOAD_OPS[op].check(doc)
    problems = list(checked.problems)
    if not problems and duration_s is not None and "start" in checked.values:
        try:
            fit_span(checked.values["start"], checked.values["end"], duration_s, frame_s)
        except BadParam as problem:
            problems.append(problem)
    if problems:
        errors = {p.field: p.short for p in reversed(problems)}
        return Validated({}, errors, problems[0])
    return Validated(doc, {})
