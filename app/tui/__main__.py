"""`vcs tui` / `python -m app.tui`: start the full-screen client (SPEC §5)."""

from __future__ import annotations

import sys

from app.client.address import ServerAddress
from app.client.cli import build_parser


def run_tui(server: ServerAddress | None, poll_interval_s: float) -> int:
    from app.tui.app import VcsTui  # Textual loads only when the TUI starts

    VcsTui(server, poll_interval_s).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    # The options are the `vcs tui` subcommand's: one definition, in the CLI's parser.
    args = build_parser().parse_args(["tui", *(sys.argv[1:] if argv is None else argv)])
    return run_tui(args.server, args.poll_interval)


if __name__ == "__main__":
    sys.exit(main())
