"""`python -m app.tui`: start the full-screen client (the same options as `vcs tui`)."""

from __future__ import annotations

import argparse
import sys

from app.tui.launch import add_tui_options, run_tui


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.tui", description="The vcs TUI (the same as `vcs tui`)."
    )
    add_tui_options(parser)
    args = parser.parse_args(argv)
    return run_tui(args.server, args.poll_interval)


if __name__ == "__main__":
    sys.exit(main())
