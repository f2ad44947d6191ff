"""A text input for folders: `~` expands, → completes the next folder name."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import Input


def display_path(path: Path) -> str:
    """`path` with the home folder shown as `~`, as a shell user would write it."""
    home = Path.home()
    try:
        rest = path.relative_to(home)
    except ValueError:
        return str(path)
    return "~" if rest == Path() else f"~/{rest}"


def typed_path(text: str) -> Path:
    return Path(os.path.expanduser(text.strip() or "."))


def folder_problem(path: Path, writable: bool) -> str | None:
    """Why `path` cannot be used as the folder asked for, or None."""
    if not path.is_dir():
        return "no such folder" if not path.exists() else "not a folder"
    if writable and not os.access(path, os.W_OK | os.X_OK):
        return "you may not write here"
    return None


class FolderSuggester(Suggester):
    """Completes the last part of a path with the first matching sub-folder."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        head, tail = os.path.split(os.path.expanduser(value))
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(head or ".")
                if entry.is_dir()
                and entry.name.startswith(tail)
                and (tail.startswith(".") or not entry.name.startswith("."))
            )
        except OSError:
            return None
        if not names or names[0] == tail:
            return None
        return value + names[0][len(tail) :] + "/"


class FolderInput(Input):
    def __init__(self, start: Path, *, id: str | None = None) -> None:
        super().__init__(display_path(start), suggester=FolderSuggester(), id=id)
