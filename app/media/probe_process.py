"""The probe process: PyAV reads an upload here, never in the server's own process.

    python -I -B -m app.media.probe_process probe PATH
    python -I -B -m app.media.probe_process keyframes PATH SECONDS...
    python -I -B -m app.media.probe_process check

Prints one JSON object on stdout: {"info": {...}} (media_info.py's form), {"keyframes":
[...]}, or the error JSON of docs/protocol.md. It is started by upload_probe.py in the
box of sandbox.py, with rlimits and a wall-time limit: whatever the file makes FFmpeg's
libraries do here, the server only waits for a bounded answer or kills the process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app.media.limits import media_too_large
from app.media.media_info import media_info_to_json
from app.protocol.errors import ErrorCode, VcsError


def answer(args: list[str]) -> dict[str, Any]:
    if args == ["check"]:
        import av  # the libraries load in this box

        return {"ok": bool(av.__version__)}
    if len(args) >= 2 and args[0] == "probe":
        from app.media.probe import probe_media

        return {"info": media_info_to_json(probe_media(Path(args[1])))}
    if len(args) >= 2 and args[0] == "keyframes":
        from app.media.compress.keyframes import keyframes_before

        times = [float(t) for t in args[2:]]
        return {"keyframes": keyframes_before(Path(args[1]), times)}
    raise VcsError(ErrorCode.INTERNAL, f"unknown probe command {args[:1]}", "A bug: report it.")


def main(args: list[str]) -> int:
    try:
        doc = answer(args)
    except VcsError as exc:
        doc = exc.info.to_json()
    except MemoryError:
        doc = media_too_large(
            "Reading the upload's header needed more memory than the probe may use.",
            "Upload a smaller file, or one with smaller frames.",
        ).info.to_json()
    except (OSError, ValueError) as exc:
        doc = VcsError(
            ErrorCode.UNREADABLE_MEDIA,
            f"The upload could not be read ({type(exc).__name__}).",
            "Upload a complete media file; check that it plays locally.",
        ).info.to_json()
    sys.stdout.write(json.dumps(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
