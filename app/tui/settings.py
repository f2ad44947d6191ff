"""What the TUI remembers between runs, in $XDG_CONFIG_HOME/vcs/tui.json.

The last server, the last folders, each op's last form values, and the jobs still on a
server (so a result can be fetched after a restart). A missing or damaged file means
defaults: remembering is a convenience, never a reason not to start.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from app.files.atomic_write import atomic_write

MAX_REMEMBERED_JOBS: Final = 50


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "vcs" / "tui.json"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class TuiSettings:
    server: str | None = None
    folder: str | None = None
    download_folder: str | None = None
    last_op: str | None = None
    # op → field → the text last typed (raw, so the form shows it as it was).
    op_defaults: dict[str, dict[str, str]] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | None = None) -> TuiSettings:
        path = path or settings_path()
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(doc, dict):
            return cls()
        op_defaults = {
            str(op): {str(k): str(v) for k, v in values.items()}
            for op, values in (doc.get("op_defaults") or {}).items()
            if isinstance(values, dict)
        }
        jobs = [
            j
            for j in doc.get("jobs") or []
            if isinstance(j, dict) and isinstance(j.get("job_id"), str) and "path" in j
        ]
        return cls(
            server=_str_or_none(doc.get("server")),
            folder=_str_or_none(doc.get("folder")),
            download_folder=_str_or_none(doc.get("download_folder")),
            last_op=_str_or_none(doc.get("last_op")),
            op_defaults=op_defaults,
            jobs=jobs[-MAX_REMEMBERED_JOBS:],
        )

    def save(self, path: Path | None = None) -> None:
        """Write atomically (app/files/atomic_write.py); a failure to save is not an error."""
        path = path or settings_path()
        doc = {
            "server": self.server,
            "folder": self.folder,
            "download_folder": self.download_folder,
            "last_op": self.last_op,
            "op_defaults": self.op_defaults,
            "jobs": self.jobs[-MAX_REMEMBERED_JOBS:],
        }
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(doc, indent=2).encode("utf-8"))
