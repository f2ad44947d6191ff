"""`vcs` exit codes scripts can rely on (README.md, "Exit codes").

0   success
1   the job failed or was cancelled (a batch: any file did not end with a result)
2   bad command line (also: an output file that exists, without --force)
3   the server refused the request (its error JSON is printed)
4   the server could not be reached, the transfer broke, the server's answer was
    malformed, or the result could not be written
5   the server's key differs from the pinned one, or a key file is unusable
130 interrupted (Ctrl-C); 143 stopped by SIGTERM
"""

from __future__ import annotations

from typing import Final

from app.protocol import ErrorCode, VcsError

EXIT_OK: Final = 0
EXIT_JOB_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_REFUSED: Final = 3
EXIT_CONNECTION: Final = 4
EXIT_UNTRUSTED: Final = 5
EXIT_INTERRUPTED: Final = 130
_UNTRUSTED_CODES: Final = (ErrorCode.SERVER_KEY_CHANGED, ErrorCode.BAD_KEY_FILE)


def exit_for_unusable_server(exc: VcsError) -> int:
    """A connection that could not be made, or not safely: 5 for a key problem, else 4."""
    return EXIT_UNTRUSTED if exc.code in _UNTRUSTED_CODES else EXIT_CONNECTION
