"""`vcs`: the command-line client (SPEC §5).

Exit codes scripts can rely on:
  0  success
  1  the job failed or was cancelled
  2  bad command line
  3  the server refused the request (its error JSON is printed)
  4  the server could not be reached, or the transfer broke
  5  the server's key differs from the pinned one, or a key file is unusable
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import trio

from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.display import console, print_error, print_report
from app.client.errors import ConnectionFailed, ServerError, TransferCorrupted
from app.client.keyring import Keyring
from app.client.keys_command import add_keys_parser, run_keys
from app.client.media_commands import add_media_commands
from app.client.upload_command import add_upload_command, run_upload_command
from app.client.workflow import RunOptions, download_with_bar, run_op, wait_for_job
from app.protocol import ErrorCode, ErrorInfo
from app.wire.key_files import KeyFileError

EXIT_OK: Final = 0
EXIT_JOB_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_REFUSED: Final = 3
EXIT_CONNECTION: Final = 4
EXIT_UNTRUSTED: Final = 5
_UNTRUSTED_CODES: Final = (ErrorCode.SERVER_KEY_CHANGED, ErrorCode.BAD_KEY_FILE)
EXIT_INTERRUPTED: Final = 130
DEFAULT_POLL_INTERVAL_S: Final = 60.0


def _server(text: str) -> ServerAddress:
    try:
        return ServerAddress.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 86_400:
        raise argparse.ArgumentTypeError("must be between 0 and 86400 seconds")
    return value


def _target_vmaf(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 60 <= value <= 99:
        raise argparse.ArgumentTypeError("must be between 60 and 99")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        type=_server,
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


def _add_wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="S",
        help="seconds between status polls while nothing changes (default 60)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="where to save the result: a file name or a directory (default: here)",
    )


def _add_upload_command(
    sub: Any, name: str, help_text: str, description: str
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=description)
    p.add_argument("file", type=Path, help="the video to upload")
    _add_common(p)
    _add_wait_options(p)
    p.add_argument(
        "--no-wait", action="store_true", help="print the job id after the upload and exit"
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcs",
        description="Client for the Video Compressor Service: upload a video, let the server "
        "run FFmpeg on it, get the result back.",
        epilog="Exit codes: 0 ok, 1 job failed, 2 usage, 3 refused by the server, "
        "4 connection problem, 5 untrusted server key or unusable key file, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _add_upload_command(
        sub,
        "compress",
        "make a video smaller while it looks the same",
        "Upload FILE, let the server pick the encoder settings, download the smaller "
        "result. If the input is already well compressed it comes back unchanged.",
    )
    p.add_argument(
        "--codec",
        choices=("h264", "h265", "av1"),
        default=None,
        help="video codec of the result (default h264: plays everywhere)",
    )
    p.add_argument(
        "--target-vmaf",
        type=_target_vmaf,
        default=None,
        metavar="SCORE",
        help="quality to aim at, VMAF 60..99 (default 93: looks like the original; "
        "higher keeps more detail, lower makes smaller files)",
    )
    p.set_defaults(
        params=lambda a: {
            key: value
            for key, value in (("codec", a.codec), ("target_vmaf", a.target_vmaf))
            if value is not None
        }
    )
    add_media_commands(sub, _add_upload_command)

    p = sub.add_parser("status", help="show a job's state and progress")
    p.add_argument("job_id")
    _add_common(p)
    p.add_argument(
        "--wait", action="store_true", help="follow the job until it ends (with a progress bar)"
    )
    p.add_argument("--poll-interval", type=_positive_float, default=DEFAULT_POLL_INTERVAL_S)

    p = sub.add_parser("download", help="download a finished job's result (then it is deleted)")
    p.add_argument("job_id")
    _add_common(p)
    p.add_argument("-o", "--output", type=Path, default=None, help="file name or directory")

    p = sub.add_parser("cancel", help="cancel a job (or discard a finished result)")
    p.add_argument("job_id")
    _add_common(p)
    add_keys_parser(sub)

    p = sub.add_parser(
        "tui",
        help="full-screen keyboard UI: browse files, run ops, watch jobs, download",
        description="Textual UI for terminals and SSH sessions; it remembers the last server "
        "and folder in $XDG_CONFIG_HOME/vcs/tui.json.",
    )
    p.add_argument(
        "--server",
        type=_server,
        default=None,
        metavar="HOST:PORT",
        help="vcs-serve address (default: $VCS_SERVER, else the last one used, else "
        "127.0.0.1:9000)",
    )
    p.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="S",
        help="seconds between job table refreshes (default 60; running jobs update at once)",
    )
    add_upload_command(sub)
    return parser


def _launch_tui(args: argparse.Namespace) -> int:
    # app.tui sits above this package (the import-linter layers in pyproject.toml): the
    # client never imports it, it only starts it by name.
    launcher = importlib.import_module("app.tui.__main__")
    code: int = launcher.run_tui(args.server, args.poll_interval)
    return code


def _print_status(status: dict[str, Any]) -> None:
    state = status.get("state")
    progress = float(status.get("progress") or 0)
    line = f"{status.get('job_id')}  {status.get('op', '')}  [bold]{state}[/]  {progress:.0%}"
    if status.get("eta_s") is not None and state == "running":
        line += f"  ~{status['eta_s']:.0f} s left"
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
    if args.command == "upload":  # the raw protocol (SPEC §2.2): its own port and client
        return await run_upload_command(args)
    client = VcsClient(
        args.server or ServerAddress.default(),
        encrypt=not args.no_encryption,
        keyring=_keyring(),
    )
    show = not args.quiet and not args.json
    emit: Callable[[dict[str, Any]], None] = lambda doc: print(json.dumps(doc, indent=2))  # noqa: E731

    if hasattr(args, "params"):
        opts = RunOptions(args.poll_interval, not args.no_wait, args.output, show)
        job_id, status, download = await run_op(
            client, args.command, args.file, args.params(args), opts
        )
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

    commands: dict[str, Callable[[], Awaitable[int]]] = {}

    async def status_cmd() -> int:
        if args.wait:
            from app.client.display import JobBar

            with JobBar("job", show) as bar:
                status = await wait_for_job(client, args.job_id, args.poll_interval, bar)
        else:
            status = await client.status(args.job_id)
        emit(status) if args.json else _print_status(status)
        return _exit_for_status(status) if args.wait else EXIT_OK

    async def download_cmd() -> int:
        download = await download_with_bar(client, args.job_id, args.output, show)
        if args.json:
            emit({**download.answer, "path": str(download.path)})
        else:
            console.print(f"saved [bold]{download.path}[/]")
            print_report(download.answer.get("report") or {})
        return EXIT_OK

    async def cancel_cmd() -> int:
        answer = await client.cancel(args.job_id)
        emit(answer) if args.json else console.print(f"job {args.job_id} cancelled")
        return EXIT_OK

    commands.update(status=status_cmd, download=download_cmd, cancel=cancel_cmd)
    return await commands[args.command]()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "tui":
        return _launch_tui(args)
    if hasattr(args, "file") and not args.file.is_file():
        console.print(f"[bold red]error[/]: {args.file} is not a file")
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
    except KeyboardInterrupt:
        console.print("\ninterrupted; an upload in flight was abandoned (the server keeps nothing)")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
