"""`vcs upload FILE`: store an MP4 on the server over the raw upload port (docs/protocol.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Final

from app.cli.display import console, print_error, transfer_bar
from app.client.address import ServerAddress
from app.client.raw_upload import (
    DEFAULT_RAW_PORT,
    LocalFileRefused,
    check_mp4_file,
    default_raw_address,
    upload_raw,
)

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2


def _raw_server(text: str) -> ServerAddress:
    try:
        return ServerAddress.parse(text, DEFAULT_RAW_PORT)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_upload_command(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "upload",
        help="store an MP4 on the server over the raw upload protocol (port 9001)",
        description="Send FILE to the server's raw upload port, which stores MP4 files "
        "(checked for an 'ftyp' box here first, and again by the server) for a retention "
        "time. No processing: use `vcs compress` and the other ops for that.",
    )
    p.add_argument("file", type=Path, help="the MP4 file to upload")
    p.add_argument(
        "--server",
        type=_raw_server,
        default=None,
        metavar="HOST[:PORT]",
        help="raw upload address (default: $VCS_RAW_SERVER, else $VCS_SERVER's host; port 9001)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


async def run_upload_command(args: argparse.Namespace) -> int:
    """Exit 0 when stored; 2 when FILE is no MP4 (nothing was sent). Server refusals and
    connection failures raise, for the CLI's usual exit codes 3 and 4."""
    address: ServerAddress = args.server or default_raw_address()
    path: Path = args.file
    try:
        size = check_mp4_file(path)
    except LocalFileRefused as exc:
        print_error(exc.info)
        return EXIT_USAGE
    with transfer_bar("upload", size, not args.quiet and not args.json) as advance:
        status = await upload_raw(address, path, advance)
    if args.json:
        print(json.dumps({"status": status.code, "reason": status.reason, "size": size}))
    else:
        console.print(f"stored [bold]{path.name}[/] ({size} bytes) on {address}")
    return EXIT_OK
