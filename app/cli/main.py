"""`vcs`: the command-line client, on top of the client library and the TUI.

Exit codes scripts can rely on are in app/cli/exit_codes.py (and README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from app.cli.batch import run_batch_command
from app.cli.batch_outcome import interrupted_outcome
from app.cli.display import Bars, JobBar, console, print_error, print_report, shown
from app.cli.exit_codes import (
    EXIT_CONNECTION,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    exit_for_unusable_server,
)
from app.cli.interruption import until_interrupted
from app.cli.keys_command import add_keys_parser, run_keys
from app.cli.op_flags import add_op_commands, flag_help, op_params, typed
from app.cli.op_run import FileRun, RunOptions, download_with_bar, run_op
from app.cli.upload_command import add_upload_command, run_upload_command
from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.byte_sizes import figure
from app.client.errors import ConnectionFailed, ServerError, TransferCorrupted
from app.client.keyring import Keyring
from app.client.workflow import DEFAULT_POLL_INTERVAL_S, wait_for_job
from app.protocol import ErrorInfo
from app.protocol.ops import JOB_ID, BadParam
from app.tui.launch import add_tui_options, poll_interval_arg, run_tui, server_arg
from app.wire.key_files import KeyFileError


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
    p.add_argument(
        "--json",
        action="store_true",
        help="print the server's answer as JSON on stdout (a batch: one line per file)",
    )


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="where to save the result: a file name or a folder (default: here, under the "
        "server's name; a name already taken gets a number, as in 'clip (1).mp4'); with "
        "several files, a folder (created if missing)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace an existing file instead of keeping it"
    )


def _add_job_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id", type=typed(JOB_ID), metavar="JOB_ID", help=flag_help(JOB_ID))


def _add_upload_command(
    sub: Any, name: str, help_text: str, description: str
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=description,
        epilog="Several files, or --recursive DIR, run as a batch: one after another, a "
        "line per file and a summary table (exit 1 if any failed); results of earlier "
        "runs (*.compress.mp4, ...) are skipped. The rules: docs/clients.md.",
    )
    p.add_argument(
        "files", type=Path, nargs="*", metavar="FILE", help="the videos to upload, in order"
    )
    p.add_argument(
        "--recursive",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also every video file under DIR (by extension; hidden files left out), "
        "results saved beside each, or at the same place under -o (repeatable)",
    )
    p.add_argument(
        "--include-results",
        action="store_true",
        help="in a batch, also run on results of earlier runs (clip.compress.mp4, ...)",
    )
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
        if not args.files and not args.recursive:
            parser.error("name a FILE to upload, or a folder with --recursive DIR")
        args.batch = len(args.files) > 1 or bool(args.recursive)
        if args.batch and args.no_wait:
            parser.error(
                "--no-wait sends a single file: the server runs one job per address at a "
                "time, so a batch waits for each job before sending the next"
            )
    output: Path | None = getattr(args, "output", None)
    batch = getattr(args, "batch", False)
    if (
        output is not None
        and not batch
        and not args.force
        and output.exists()
        and not output.is_dir()
    ):
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


async def _op_cmd(
    client: VcsClient,
    args: argparse.Namespace,
    show: bool,
    emit: Callable[[dict[str, Any]], None],
) -> int:
    """`vcs OP FILE`: one upload → job → download; several files (or --recursive): a batch."""
    if args.batch:
        return await run_batch_command(client, args, show)
    run = FileRun(args.files[0])
    opts = RunOptions(args.poll_interval, not args.no_wait, args.output, Bars(show), args.force)
    ended = await until_interrupted(lambda: run_op(client, args.command, run, args.params, opts))
    if ended.exit_code is not None:
        note = interrupted_outcome(run, 0).note
        console.print(f"\ninterrupted: {shown(note)}")
        return ended.exit_code
    if args.json:
        emit(
            {
                "job_id": run.job_id,
                "status": run.status,
                "path": str(run.download.path) if run.download else None,
            }
        )
    elif args.no_wait:
        print(run.job_id)
    return _exit_for_status(run.status)


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
        return await _op_cmd(client, args, show, emit)

    async def status_cmd() -> int:
        if args.wait:
            with JobBar("job", Bars(show)) as bar:
                status = await wait_for_job(client, args.job_id, args.poll_interval, bar)
        else:
            status = await client.status(args.job_id)
        emit(status) if args.json else _print_status(status)
        return _exit_for_status(status) if args.wait else EXIT_OK

    async def download_cmd() -> int:
        download = await download_with_bar(client, args.job_id, args.output, Bars(show), args.force)
        if args.json:
            emit({**download.answer, "path": str(download.path)})
        else:
            console.print(f"saved [bold]{shown(download.path)}[/]", soft_wrap=True)
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
    single = getattr(args, "file", None) or (
        args.files[0] if hasattr(args, "op_spec") and not args.batch else None
    )
    if single is not None and not single.is_file():
        hint = f"; use --recursive {single}" if single.is_dir() and hasattr(args, "op_spec") else ""
        console.print(f"[bold red]error[/]: {shown(single)} is not a file{shown(hint)}")
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
        return exit_for_unusable_server(exc)
    except OSError as exc:  # a local file: the input vanished, or the result cannot be saved
        where = f" {exc.filename}" if exc.filename else ""
        console.print(f"[bold red]error[/]: cannot use{shown(where)}: {shown(exc.strerror or exc)}")
        return EXIT_CONNECTION
    except KeyboardInterrupt:
        console.print("\ninterrupted; an upload in flight was abandoned (the server keeps nothing)")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
