"""Small files the media layer keeps across a crash (a job's chunk manifest): written to
a temporary name in the same directory, fsynced, renamed over the final name, the
directory fsynced — the rule app/wire/atomic_write.py follows for uploads and results
(the media layer does not import the wire layer, see pyproject.toml's layers)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_file(path: Path) -> None:
    """Flush a file FFmpeg wrote to the disk (before anything records that it exists)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(path: Path, data: bytes) -> None:
    """`path` holds `data` afterwards, or (after a crash) its old content: never a part."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    sync_directory(path.parent)
