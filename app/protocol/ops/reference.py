"""The op table as a Markdown reference (docs/parameters.md is this, written out by
`python -m app.protocol.ops.reference > docs/parameters.md`; a test keeps it current)."""

from __future__ import annotations

import sys

from app.protocol.ops.fields import Field
from app.protocol.ops.table import QUERY_OPS, UPLOAD_FIELDS, UPLOAD_OPS, OpSpec

HEADER = """# Request fields

Every field of every request, as the server checks it, `vcs OP --help` explains it and
the TUI's op form offers it. Generated from the op table (`app/protocol/ops/table.py`)
by `python -m app.protocol.ops.reference > docs/parameters.md`; edit the table, not this
page. A field sent as `null` is the same as a field left out. The framing and the
answers are in [protocol.md](protocol.md); what each op does with its fields is in
[operations.md](operations.md).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or "—"


def _table(fields: tuple[Field, ...], *, flags: bool) -> list[str]:
    columns = ["field", *(["CLI flag"] if flags else []), "values", "default", "meaning"]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for field in fields:
        default = "required" if field.required else field.default_shown
        values = ", ".join(f"`{c}`" for c in field.choices) if field.choices else field.range_text
        flag = f" `{field.flag}` |" if flags else ""
        lines.append(
            f"| `{field.name}` |{flag} {_cell(values)} | {_cell(default)} | {_cell(field.help)} |"
        )
    return lines


def _title(spec: OpSpec) -> list[str]:
    return [f"## `{spec.name}`", "", spec.summary[:1].upper() + spec.summary[1:] + ".", ""]


def markdown() -> str:
    lines = [HEADER]
    for spec in UPLOAD_OPS.values():
        lines += [*_title(spec), *_table(spec.fields, flags=True), ""]
    lines += ["## Every upload", "", "Set by `vcs` and the TUI themselves.", ""]
    lines += [*_table(UPLOAD_FIELDS, flags=False), ""]
    for spec in QUERY_OPS.values():
        lines += [*_title(spec), f"`vcs {spec.name} JOB_ID`.", ""]
        lines += [*_table(spec.fields, flags=False), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
