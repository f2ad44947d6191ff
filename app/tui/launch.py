"""How the TUI is started: its options (`vcs tui`, `python -m app.tui`) and the run.

Declared here, below the CLI, so both entry points share them without the TUI ever
importing the CLI. Textual itself loads only when the TUI starts.
"""

from __future__ import annotations

import argparse
from typing import Final

from app.client.address import ServerAddress
from app.client.workflow import DEFAULT_POLL_INTERVAL_S

MAX_POLL_INTERVAL_S: Final = 86_400.0


def server_arg(text: str) -> ServerAddress:
    """An argparse type for `--server HOST:PORT`."""
    try:
        return ServerAddress.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def poll_interval_arg(text: str) -> float:
    """An argparse type for `--poll-interval S`: more than 0, at most a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_POLL_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_POLL_INTERVAL_S:.0f} seconds"
        )
    return value


def add_tui_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        type=server_arg,
        default=None,
        metavar="HOST:PORT",
        help="vcs-serve address (default: $VCS_SERVER, else the last one used, else "
        "127.0.0.1:9000)",
    )
    p.add_argument(
        "--poll-interval",
        type=poll_interval_arg,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="S",
        help="seconds between job table refreshes (default 60; running jobs update at once)",
    )


def run_tui(server: ServerAddress | None, poll_interval_s: float) -> int:
    from app.tui.app import VcsTui  # Textual loads only when the TUI starts

    VcsTui(server, poll_interval_s).run()
    return 0
