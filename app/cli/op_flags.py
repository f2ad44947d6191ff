"""`vcs OP` for every upload op: subcommands and flags made from the op table.

Each field of `app.protocol.ops.UPLOAD_OPS` becomes one flag (`target_vmaf` →
`--target-vmaf`), with the table's help, range and default in `--help`, and the
table's own check as its argparse type: a value the server would refuse is a usage
error (exit 2) before anything is sent. What is sent is the value as typed (plain
numbers as JSON numbers, `00:01:02.5` as a string); the server normalises it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from app.protocol import VcsError
from app.protocol.ops import UPLOAD_OPS, BadParam, Choice, Field, Flag, OpSpec

AddUploadCommand = Callable[[Any, str, str, str], argparse.ArgumentParser]


def flag_help(field: Field) -> str:
    """The field's help, what it may be and its default, as `--help` shows them."""
    notes = [field.range_text] if field.range_text and not isinstance(field, Choice) else []
    if field.required:
        notes.append("required")
    elif field.default_shown:
        notes.append(f"default: {field.default_shown}")
    text = field.help + (f" ({'; '.join(notes)})" if notes else "")
    return text.replace("%", "%%")  # argparse formats help with %


def flag_metavar(field: Field) -> str:
    return "{" + ",".join(field.choices) + "}" if isinstance(field, Choice) else field.metavar


def typed(field: Field) -> Callable[[str], object]:
    """An argparse type: the JSON value the text stands for, if the table accepts it."""

    def convert(text: str) -> object:
        value = field.from_text(text)
        try:
            field.check(value)
        except BadParam as problem:
            raise argparse.ArgumentTypeError(f"{problem.description} {problem.solution}") from None
        except VcsError:  # a job id's refusal says nothing about the shape: we do
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {field.label} ({field.range_text})"
            ) from None
        return value

    convert.__name__ = field.name  # argparse names the type in some messages
    return convert


def add_op_commands(sub: Any, add_upload_command: AddUploadCommand) -> None:
    for spec in UPLOAD_OPS.values():
        p = add_upload_command(sub, spec.name, spec.summary, spec.description)
        group = p.add_argument_group(f"{spec.name} parameters (docs/parameters.md)")
        for field in spec.fields:
            if isinstance(field, Flag):  # a bare --flag sends true; --flag no, false
                group.add_argument(
                    field.flag,
                    dest=field.name,
                    type=typed(field),
                    nargs="?",
                    const=True,
                    default=None,
                    metavar="yes|no",
                    help=flag_help(field),
                )
                continue
            group.add_argument(
                field.flag,
                dest=field.name,
                type=typed(field),
                required=field.required,
                default=None,
                metavar=flag_metavar(field),
                help=flag_help(field),
            )
        p.set_defaults(op_spec=spec)


def op_params(args: argparse.Namespace) -> dict[str, Any]:
    """The request parameters the flags give (the server applies its defaults to the rest);
    BadParam when a rule between them fails (e.g. a preset and a width)."""
    spec: OpSpec = args.op_spec
    params = {f.name: getattr(args, f.name) for f in spec.fields}
    params = {name: value for name, value in params.items() if value is not None}
    problems = spec.check(params).problems
    if problems:
        raise problems[0]
    return params
