"""Where a downloaded result lands: never over an existing file unless asked.

The server suggests a name; it is reduced to a safe base name first (no path parts, no
hidden names, no control characters: `safe_base_name`), and a name already taken — by
a file, a folder or a link — becomes `name (1).ext`, `name (2).ext`, ... The finished
file is linked into place, so another program creating the same name at the same
moment cannot be overwritten either.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Final

MAX_NUMBERED: Final = 999
# Where hard links are not possible (some network and FAT file systems).
_NO_LINKS: Final = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK})


def numbered(target: Path, n: int) -> Path:
    """`clip.compress.mp4` → `clip.compress (n).mp4`; `Makefile` → `Makefile (n)`."""
    name = target.name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return target.with_name(f"{name} ({n})")
    return target.with_name(f"{stem} ({n}).{ext}")


def place_result(partial: Path, target: Path, *, overwrite: bool) -> Path:
    """Move the finished `partial` to `target`, or (not `overwrite`) to the first free
    numbered name beside it. Returns where it went."""
    if overwrite:
        os.replace(partial, target)
        return target
    for n in range(MAX_NUMBERED + 1):
        candidate = target if n == 0 else numbered(target, n)
        if _claim(partial, candidate):
            return candidate
    raise FileExistsError(
        errno.EEXIST, f"it and {MAX_NUMBERED} numbered names beside it exist", str(target)
    )


def _claim(partial: Path, candidate: Path) -> bool:
    """Put `partial` at `candidate` if that name is free; False when it is taken."""
    try:
        os.link(partial, candidate, follow_symlinks=False)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        try:  # no hard links here: reserve the name, then move onto our own placeholder
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC))
        except FileExistsError:
            return False
        os.replace(partial, candidate)
        return True
    partial.unlink()
    return True
