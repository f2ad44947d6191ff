"""Local probes, once per version of a file: the details pane and the op form share them.

A file's version is its path, size and modification time: a file that changes (a result
being written, a clip re-encoded) is probed again; one that does not never is. Bounded:
the least recently used entries go first.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Final

from app.tui.local_probe import LocalMedia, probe_local

MAX_ENTRIES: Final = 512

FileVersion = tuple[str, int, int]


def file_version(path: Path) -> FileVersion | None:
    """(path, size, mtime in ns), or None when the file cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return str(path), stat.st_size, stat.st_mtime_ns


class ProbeCache:
    """Thread-safe: `probe` runs in worker threads, `cached` on the UI thread."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[FileVersion, LocalMedia | None] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.probes_run = 0  # how often FFmpeg was asked: the cache's own check

    def cached(self, version: FileVersion) -> tuple[bool, LocalMedia | None]:
        """(known, probe): known is False when this version was never probed."""
        with self._lock:
            if version not in self._entries:
                return False, None
            self._entries.move_to_end(version)
            return True, self._entries[version]

    def seed(self, version: FileVersion, media: LocalMedia | None) -> None:
        """Record what a file version is without probing it."""
        with self._lock:
            self._entries[version] = media
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def probe(self, path: Path) -> LocalMedia | None:
        """The file's probe, from the cache when this version was probed. Blocking."""
        version = file_version(path)
        if version is None:
            return None
        known, media = self.cached(version)
        if known:
            return media
        media = probe_local(path)
        with self._lock:
            self.probes_run += 1
        self.seed(version, media)
        return media
