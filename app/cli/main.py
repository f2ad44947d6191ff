"""`vcs`: the command-line client, on top of the client library and the TUI.

Exit codes scripts can rely on:
  0  success
  1  the job failed or was cancelled
  2  bad command line (also: an output file that exists, without --force)
  3  the server refused the request (its error JSON is printed)
  4  the server could not be reached, the transfer broke, the server's answer was
     malformed, or the result could not be written
  5  the server's key differs from the pinned one, or a key file is unusable
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import trio

from app.cli.display import JobBar, console, figure, print_error, print_report, shown
from app.cli.keys_command import add_keys_parser, run_keys
from app.cli.op_flags import add_op_commands, flag_help, op_params, typed
from app.cli.op_run import RunOptions, download_with_bar, run_op
from app.cli.upload_command import add_upload_command, run_upload_command
from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.errors import ConnectionFailed, ServerError, TransferCorrupted
from app.client.keyring import Keyring
from app.client.workflow import DEFAULT_POLL_INTERVAL_S, wait_for_job
from app.protocol import ErrorCode, ErrorInfo
from app.protocol.ops import JOB_ID, BadParam
from app.tui.launch import add_tui_options, poll_interval_arg, run_tui, server_arg
from app.wire.key_files import KeyFileError

EXIT_OK: Final = 0
EXIT_JOB_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_REFUSED: Final = 3
EXIT_CONNECTION: Final = 4
EXIT_UNTRUSTED: Final = 5
_UNTRUSTED_CODES: Final = (ErrorCode.SERVER_KEY_CHANGED, ErrorCode.BAD_KEY_FILE)
EXIT_INTERRUPTED: Final = 130


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        type=server_arg,
        default=None,
        metavar="HOST:PORT",
        help="vcs-serve address (default: $VCS_SERVER or 127.0.0.1:9000)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--no-encryption",
        action="store_true",
        help="speak plaintext MMP (only on a trusted network; see docs/security.md)",
    )
    p.add_argument("--json", action="store_true", help="print the server's answer as JSON")


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="where to save the result: a file name or a folder (default: here, under the "
        "server's name; a name already taken gets a number, as in 'clip (1).mp4')",
    )
    p.add_argument(
        "--force", action="store_true", help="replace an existing file instead of keeping it"
    )


def _add_job_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id", type=typed(JOB_ID), metavar="JOB_ID", help=flag_help(JOB_ID))


def _add_upload_command(
    sub: Any, name: str, help_text: str, description: str
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=description)
    p.add_argument("file", type=Path, help="the video to upload")
    _add_common(p)
    p.add_argument(
        "--poll-interval",
        type=poll_interval_arg,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="S",
        help="seconds between status polls while nothing changes (default 60)",
    )
    _add_output(p)
    p.add_argument(
        "--no-wait", action="store_true", help="print the job id after the upload and exit"
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcs",
        description="Client for the Video Compressor Service: upload a video, let the server "
        "run FFmpeg on it, get the result back. What each op does: docs/operations.md.",
        epilog="Exit codes: 0 ok, 1 job failed, 2 usage, 3 refused by the server, "
        "4 connection or transfer problem, 5 untrusted server key or unusable key file, "
        "130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_op_commands(sub, _add_upload_command)

    p = sub.add_parser("status", help="show a job's state and progress")
    _add_job_id(p)
    _add_common(p)
    p.add_argument(
        "--wait", action="store_true", help="follow the job until it ends (with a progress bar)"
    )
    p.add_argument(
        "--poll-interval",
        type=poll_interval_arg,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="S",
        help="with --wait: seconds between status polls while nothing changes (default 60)",
    )

    p = sub.add_parser("download", help="download a finished job's result (then it is deleted)")
    _add_job_id(p)
    _add_common(p)
    _add_output(p)

    p = sub.add_parser("cancel", help="cancel a job (or discard a finished result)")
    _add_job_id(p)
    _add_common(p)
    add_keys_parser(sub)

    p = sub.add_parser(
        "tui",
        help="full-screen keyboard UI: browse files, run ops, watch jobs, download",
        description="Textual UI for terminals and SSH sessions; it remembers the last server "
        "and folder in $XDG_CONFIG_HOME/vcs/tui.json.",
    )
    add_tui_options(p)
    add_upload_command(sub)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with an op's parameters checked by the op table (`args.params`):
    anything the server would refuse statically is a usage error here (exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "op_spec"):
        try:
            args.params = op_params(args)
        except BadParam as problem:
            parser.error(f"{problem.description} {problem.solution}")
    output: Path | None = getattr(args, "output", None)
    if output is not None and not args.force and output.exists() and not output.is_dir():
        parser.error(f"{output} exists; pick another name, or pass --force to replace it")
    return args


def _print_status(status: dict[str, Any]) -> None:
    state = shown(status.get("state"))
    progress = figure(status.get("progress")) or 0.0
    line = f"{shown(status.get('job_id'))}  {shown(status.get('op', ''))}  [bold]{state}[/]"
    line += f"  {progress:.0%}"
    eta = figure(status.get("eta_s"))
    if eta is not None and state == "running":
        line += f"  ~{eta:.0f} s left"
    console.print(line)
    if status.get("error"):
        error = ErrorInfo.from_json({"error": status["error"]})
        if error is not None:
            print_error(error)
    if status.get("result"):
        print_report(status["result"])


def _exit_for_status(status: dict[str, Any] | None) -> int:
    if status is None or status.get("state") == "done":
        return EXIT_OK
    if status.get("state") in ("failed", "cancelled"):
        if status.get("error"):
            error = ErrorInfo.from_json({"error": status["error"]})
            if error is not None:
                print_error(error)
        else:
            console.print(f"job {status.get('state')}")
        return EXIT_JOB_FAILED
    return EXIT_OK


def _keyring() -> Keyring:
    def notice(address: str, pinned: str) -> None:
        console.print(f"pinned the key of {address} on first use: {pinned} (see `vcs keys`)")

    return Keyring.default(on_pin=notice)


async def _run(args: argparse.Namespace) -> int:
    if args.command == "upload":  # the raw protocol: its own port and client
        return await run_upload_command(args)
    client = VcsClient(
        args.server or ServerAddress.default(),
        encrypt=not args.no_encryption,
        keyring=_keyring(),
    )
    show = not args.quiet and not args.json
    emit: Callable[[dict[str, Any]], None] = lambda doc: print(json.dumps(doc, indent=2))  # noqa: E731

    if hasattr(args, "op_spec"):
        opts = RunOptions(args.poll_interval, not args.no_wait, args.output, show, args.force)
        job_id, status, download = await run_op(client, args.command, args.file, args.params, opts)
        if args.json:
            emit(
                {
                    "job_id": job_id,
                    "status": status,
                    "path": str(download.path) if download else None,
                }
            )
        elif args.no_wait:
            print(job_id)
        return _exit_for_status(status)

    async def status_cmd() -> int:
        if args.wait:
            with JobBar("job", show) as bar:
                status = await wait_for_job(client, args.job_id, args.poll_interval, bar)
        else:
            status = await client.status(args.job_id)
        emit(status) if args.json else _print_status(status)
        return _exit_for_status(status) if args.wait else EXIT_OK

    async def download_cmd() -> int:
        download = await download_with_bar(client, args.job_id, args.output, show, args.force)
        if args.json:
            emit({**download.answer, "path": str(download.path)})
        else:
            console.print(f"saved [bold]{shown(download.path)}[/]")
            print_report(download.answer.get("report") or {})
        return EXIT_OK

    async def cancel_cmd() -> int:
        answer = await client.cancel(args.job_id)
        emit(answer) if args.json else console.print(f"job {args.job_id} cancelled")
        return EXIT_OK

    commands: dict[str, Callable[[], Awaitable[int]]] = {
        "status": status_cmd,
        "download": download_cmd,
        "cancel": cancel_cmd,
    }
    return await commands[args.command]()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "tui":
        return run_tui(args.server, args.poll_interval)
    if hasattr(args, "file") and not args.file.is_file():
        console.print(f"[bold red]error[/]: {shown(args.file)} is not a file")
        return EXIT_USAGE
    try:
        if args.command == "keys":
            return run_keys(args, _keyring())
        return trio.run(_run, args)
    except ServerError as exc:
        print_error(exc.info)
        return EXIT_REFUSED
    except (ConnectionFailed, TransferCorrupted, KeyFileError) as exc:
        print_error(exc.info)
        return EXIT_UNTRUSTED if exc.code in _UNTRUSTED_CODES else EXIT_CONNECTION
    except OSError as exc:  # a local file: the input vanished, or the result cannot be saved
        where = f" {exc.filename}" if exc.filename else ""
        console.print(f"[bold red]error[/]: cannot use{shown(where)}: {shown(exc.strerror or exc)}")
        return EXIT_CONNECTION
    except KeyboardInterrupt:
        console.print("\ninterrupted; an upload in flight was abandoned (the server keeps nothing)")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
