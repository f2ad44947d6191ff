"""Where a downloaded result lands: never over an existing file unless asked.

The server suggests a name; it is reduced to a safe base name first (no path parts, no
hidden names, no control characters: `safe_base_name`), and a name already taken — by
a file, a folder or a link — becomes `name (1).ext`, `name (2).ext`, ... The finished
file is linked into place (app/files/atomic_write.py), so another program creating the
same name at the same moment cannot be overwritten either.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Final

from app.files.atomic_write import AtomicFile

MAX_NUMBERED: Final = 999


def numbered(target: Path, n: int) -> Path:
    """`clip.compress.mp4` → `clip.compress (n).mp4`; `Makefile` → `Makefile (n)`."""
    name = target.name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return target.with_name(f"{name} ({n})")
    return target.with_name(f"{stem} ({n}).{ext}")


def place_result(partial: AtomicFile, target: Path, *, overwrite: bool) -> Path:
    """Commit the finished `partial` (app/files/atomic_write.py) at `target`, or (not
    `overwrite`) at the first free numbered name beside it. Returns where it went.
    Blocking (fsync): run it in a worker thread."""
    if overwrite:
        partial.commit_now(target)
        return target
    for n in range(MAX_NUMBERED + 1):
        candidate = target if n == 0 else numbered(target, n)
        if partial.commit_now(candidate, replace=False):
            return candidate
    raise FileExistsError(
        errno.EEXIST, f"it and {MAX_NUMBERED} numbered names beside it exist", str(target)
    )
