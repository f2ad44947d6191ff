"""`vcs-serve keys`: edit the authorized-keys file a server runs with (docs/security.md).

vcs-serve keys add SHA256:... [--name alice] [--quota 50GB] [--jobs 2] --authorized-keys FILE
vcs-serve keys list --authorized-keys FILE
vcs-serve keys remove SHA256:...|NAME --authorized-keys FILE

A running `vcs-serve --authorized-keys FILE` picks changes up at the next connection.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.server.authorized_keys import (
    AuthorizedKey,
    AuthorizedKeysError,
    add,
    check_name,
    key_fingerprint,
    read_entries,
    remove,
)
from app.server.units import argument_type, parse_size


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError("must be a whole number ≥ 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vcs-serve keys",
        description="Edit the authorized-keys file of `vcs-serve --authorized-keys FILE`: the "
        "client keys that may use the server, with optional per-key limits. Users print "
        "their key's fingerprint with `vcs keys`. Edits are locked and atomic; a running "
        "server applies them at the next connection.",
    )
    file_arg = argparse.ArgumentParser(add_help=False)
    file_arg.add_argument(
        "--authorized-keys",
        "-f",
        type=Path,
        required=True,
        metavar="FILE",
        help="the file (made on the first add)",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_p = actions.add_parser(
        "add", parents=[file_arg], help="admit a key (or change its name and limits)"
    )
    add_p.add_argument(
        "key",
        type=argument_type(key_fingerprint),
        help="fingerprint (SHA256:...) or base64 DER key",
    )
    add_p.add_argument("--name", type=argument_type(check_name), default=None, help="who holds it")
    add_p.add_argument(
        "--quota",
        type=argument_type(parse_size),
        default=None,
        help="bytes its jobs may hold (50GB)",
    )
    add_p.add_argument("--jobs", type=argument_type(_positive), default=None, help="jobs at once")
    actions.add_parser("list", parents=[file_arg], help="print the keys and their limits")
    remove_p = actions.add_parser(
        "remove", parents=[file_arg], help="refuse a key from the next connection on"
    )
    remove_p.add_argument("key", metavar="KEY_OR_NAME", help="fingerprint, public key or name")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    path: Path = args.authorized_keys.expanduser()
    try:
        if args.action == "add":
            entry = AuthorizedKey(args.key, args.name or "", args.quota, args.jobs)
            new = add(path, entry)
            print(f"{'added' if new else 'updated'} {entry.describe()}")
        elif args.action == "remove":
            gone = remove(path, args.key)
            for entry in gone:
                print(f"removed {entry.describe()}")
            if not gone:
                print(f"vcs-serve keys: no key {args.key!r} in {path}", file=sys.stderr)
                return 1
        else:
            entries = read_entries(path)
            for entry in entries:
                print(entry.describe())
            if not entries:
                print(f"(no keys in {path}: a server using it admits no encrypted client)")
    except FileNotFoundError:
        print(f"vcs-serve keys: {path} does not exist (`keys add` makes it)", file=sys.stderr)
        return 1
    except (AuthorizedKeysError, ValueError, OSError) as exc:
        print(f"vcs-serve keys: {exc}", file=sys.stderr)
        return 1
    return 0
