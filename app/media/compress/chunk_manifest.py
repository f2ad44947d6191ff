"""What a chunked compress job has finished, kept in its work directory across restarts.

`manifest.json` lists the verified chunk files (by the key of the task that made them:
chunk_encode.py) and the trial points measured (by the key of the trial), so a rerun of
the job on the same work directory encodes and measures only what is missing. It is
rewritten whole at each change (app/files/atomic_write.py), after the chunk file itself is on
disk; a chunk file the manifest does not name (a crash between the two) is encoded again.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Final

import trio

from app.files.atomic_write import atomic_write, fsync_file
from app.media.compress.allocation import RatePoint
from app.media.compress.chunk_encode import EncodedChunk

MANIFEST_NAME: Final = "manifest.json"
MANIFEST_VERSION: Final = 2


class ChunkManifest:
    """The work directory's record; one per job run (not shared between processes)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._trials: dict[str, dict[str, float]] = {}
        self._chunks: dict[str, dict[str, Any]] = {}
        self._lock = trio.Lock()
        self.reused_chunks = 0
        self.reused_trials = 0

    @classmethod
    def open(cls, directory: Path) -> ChunkManifest:
        """The manifest in `directory` (created if missing); an unreadable one starts over."""
        directory.mkdir(parents=True, exist_ok=True)
        manifest = cls(directory)
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            doc = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
            if doc.get("version") == MANIFEST_VERSION:
                manifest._trials = {str(k): dict(v) for k, v in doc["trials"].items()}
                manifest._chunks = {str(k): dict(v) for k, v in doc["chunks"].items()}
        return manifest

    def trial(self, key: str) -> RatePoint | None:
        point = self._trials.get(key)
        if point is None:
            return None
        self.reused_trials += 1
        return RatePoint(float(point["crf"]), float(point["bytes"]), float(point["vmaf"]))

    def chunk(self, key: str) -> EncodedChunk | None:
        """The finished chunk made by the task with `key`, if its file is still whole."""
        doc = self._chunks.get(key)
        if doc is None:
            return None
        try:
            chunk = EncodedChunk.from_json(doc, self.directory)
            if chunk.path.stat().st_size != chunk.size_bytes:
                return None
        except (OSError, TypeError, ValueError):
            return None
        self.reused_chunks += 1
        return chunk

    async def record_trial(self, key: str, point: RatePoint) -> None:
        self._trials[key] = {"crf": point.crf, "bytes": point.bytes, "vmaf": point.vmaf}
        await self._save()

    async def record_chunk(self, chunk: EncodedChunk) -> None:
        await trio.to_thread.run_sync(fsync_file, chunk.path)
        self._chunks[chunk.key] = chunk.to_json()
        await self._save()

    def encoded_chunks(self) -> list[EncodedChunk]:
        return [EncodedChunk.from_json(doc, self.directory) for doc in self._chunks.values()]

    async def _save(self) -> None:
        async with self._lock:  # one writer at a time: the last save holds every record
            doc = {"version": MANIFEST_VERSION, "trials": self._trials, "chunks": self._chunks}
            data = json.dumps(doc, indent=1, sort_keys=True).encode()
            await trio.to_thread.run_sync(atomic_write, self.directory / MANIFEST_NAME, data)
