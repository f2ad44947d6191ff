"""Raw uploads on disk (SPEC §2.2): kept for a retention time, always within the quota.

storage_dir/raw/<32 hex>.mp4, written through an AtomicFile (hidden `.*.part` until
complete). Each stored file holds its size against the shared quota until it expires;
after a restart the files found are counted again and keep their age (mtime).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.protocol.errors import ErrorCode, VcsError
from app.server.quota import Quota, Reservation, UploadReservation
from app.wire.atomic_write import AtomicFile, sweep_partials

log = logging.getLogger(__name__)

RAW_ID_BYTES: Final = 16
RAW_SUFFIX: Final = ".mp4"


@dataclass(eq=False)
class StoredRaw:
    path: Path
    stored_at: float
    reservation: Reservation


class RawStore:
    def __init__(self, root: Path, quota: Quota, retention_s: float) -> None:
        self.root = root
        self._quota = quota
        self.retention_s = retention_s
        self._files: dict[Path, StoredRaw] = {}

    def __len__(self) -> int:
        return len(self._files)

    def prepare(self) -> int:
        """Create the directory, sweep partial files, count the stored ones; return swept."""
        self.root.mkdir(parents=True, exist_ok=True)
        swept = len(sweep_partials(self.root))
        for path in self.root.glob(f"*{RAW_SUFFIX}"):
            stat = path.stat()
            reservation = self._quota.reserve_existing(stat.st_size)
            self._files[path] = StoredRaw(path, stat.st_mtime, reservation)
        return swept

    def reserve(self, size: int, holder: str) -> UploadReservation:
        """Quota for an upload; expired raw files make room first if the quota is short."""
        try:
            return self._quota.reserve_upload(size, holder)
        except VcsError as exc:
            if exc.code is not ErrorCode.QUOTA_EXCEEDED or not self.expire(time.time()):
                raise
        return self._quota.reserve_upload(size, holder)

    def partial(self) -> AtomicFile:
        return AtomicFile(self.root)

    def new_path(self) -> Path:
        # A server-made name: nothing of the client's reaches the file system.
        return self.root / f"{secrets.token_hex(RAW_ID_BYTES)}{RAW_SUFFIX}"

    def add(self, path: Path, reservation: Reservation) -> None:
        self._files[path] = StoredRaw(path, time.time(), reservation)

    def expire(self, now: float) -> int:
        """Delete raw uploads older than the retention time; give their quota back."""
        expired = [f for f in self._files.values() if now - f.stored_at >= self.retention_s]
        for stored in expired:
            stored.path.unlink(missing_ok=True)
            stored.reservation.release()
            del self._files[stored.path]
        if expired:
            log.info("expired %d raw upload(s)", len(expired))
        return len(expired)
