"""`vcs-serve --config FILE`: a TOML file whose keys are the command line's own flags.

Every option of `vcs-serve --help` has a key, spelt like the flag without its dashes
(`max-jobs = 2`, `quota = "500GB"`, `job-timeout = "1h"`, `trusted-proxy = ["10.0.0.0/8"]`,
`require-encryption = true`); `_` may stand for `-`. Values are read by the flag's own
parser, so a file accepts exactly what the command line does, and flags given on the
command line override the file. Without `--config`, the first of
`$XDG_CONFIG_HOME/vcs/serve.toml` (default `~/.config/vcs/serve.toml`) and
`/etc/vcs/serve.toml` that exists is read.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

SYSTEM_CONFIG: Final = Path("/etc/vcs/serve.toml")
# Options that make no sense in a file: they do something once, or name the file.
NOT_IN_FILE: Final = frozenset({"help", "config", "show_fingerprint"})


class ConfigError(Exception):
    """The file cannot be used; the message names the file and the key."""


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "vcs" / "serve.toml"


def find_config(explicit: Path | None) -> Path | None:
    """The file to read: the one asked for (which must exist), else the first default."""
    if explicit is not None:
        return explicit
    for candidate in (user_config_path(), SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def file_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Key (the flag without dashes) → its argparse action, for every option a file may set."""
    options: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if action.dest in NOT_IN_FILE or not action.option_strings:
            continue
        long_flags = [flag for flag in action.option_strings if flag.startswith("--")]
        if long_flags:
            options[long_flags[0][2:]] = action
    return options


def _convert(action: argparse.Action, key: str, value: Any) -> Any:
    """One file value, read by the flag's own `type` (so `"500GB"` works where it does)."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, not {value!r}")
        return value if isinstance(action, argparse._StoreTrueAction) else not value
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    if isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        return [_convert_one(convert, key, item, action) for item in items]
    if isinstance(value, list | dict):
        raise ConfigError(f"{key} takes one value, not {type(value).__name__}")
    return _convert_one(convert, key, value, action)


def _convert_one(
    convert: Callable[[str], Any], key: str, value: Any, action: argparse.Action
) -> Any:
    if isinstance(value, bool | dict | list):
        raise ConfigError(f"{key}: {value!r} is not a value this option takes")
    try:
        converted = convert(str(value))
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise ConfigError(f"{key}: {exc}") from None
    if action.choices is not None and converted not in action.choices:
        raise ConfigError(f"{key} must be one of {', '.join(map(str, action.choices))}")
    return converted


def read_config(parser: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """The file's settings as parser defaults (dest → value); raises ConfigError."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    options = file_options(parser)
    defaults: dict[str, Any] = {}
    for raw_key, value in doc.items():
        key = raw_key.replace("_", "-")
        action = options.get(key)
        if action is None:
            close = difflib.get_close_matches(key, list(options), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{path}: unknown key {raw_key!r}{hint}")
        try:
            defaults[action.dest] = _convert(action, key, value)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return defaults


def parse_with_config(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> tuple[argparse.Namespace, Path | None]:
    """Parse the command line over the config file's values: flags win over the file."""
    first, _ = parser.parse_known_args(argv)
    path = find_config(getattr(first, "config", None))
    if path is not None:
        try:
            defaults = read_config(parser, path)
        except ConfigError as exc:
            parser.error(str(exc))
        given = _flags_given(parser, argv)
        # argparse appends a repeated flag to its default list: a list given on the
        # command line replaces the file's instead, as every other flag does.
        parser.set_defaults(**{dest: v for dest, v in defaults.items() if dest not in given})
    return parser.parse_args(argv), path


def _flags_given(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """Dests of the append options that appear on the command line."""
    args = argv if argv is not None else sys.argv[1:]
    given = set()
    for action in parser._actions:
        if not isinstance(action, argparse._AppendAction):
            continue
        if any(
            arg == flag or arg.startswith(f"{flag}=")
            for arg in args
            for flag in action.option_strings
        ):
            given.add(action.dest)
    return given
