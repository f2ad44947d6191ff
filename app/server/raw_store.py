"""Raw uploads (docs/protocol.md): kept for a retention time, always within the quota.

Each file is a blob `raw/<32 hex>.mp4` in the server's blob store (the storage
directory, or S3 for a cluster: any node's sweep expires it) with a row in the job
store that holds its bytes against the same quota as jobs, in its address's share.
While it arrives it holds what it has sent plus a headroom; a refusal, a disconnect
or a crash leaves neither blob nor row (a restart sweeps what a crash left).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Final

import trio

from app.server.quota import UploadHold, first_hold, quota_refusal
from app.server.refusals import answering_users
from app.server.stores.blob_store import BlobStore, raw_key
from app.server.stores.job_store import QuotaFull
from app.server.stores.sql_jobs import SqlJobStore

log = logging.getLogger(__name__)

RAW_ID_BYTES: Final = 16


class RawAdmission:
    """A raw upload let in: `key` to store it under, `hold` to grow as it arrives."""

    def __init__(self, store: SqlJobStore, key: str, hold: UploadHold) -> None:
        self._store = store
        self.key = key
        self.hold = hold
        self.stored = False

    async def stored_whole(self) -> None:
        """The blob is committed: it holds its size until it expires."""
        with answering_users():
            await self._store.raw_stored(self.key)
        self.stored = True


class RawStore:
    def __init__(self, store: SqlJobStore, blobs: BlobStore, retention_s: float) -> None:
        self._store = store
        self._blobs = blobs
        self.retention_s = retention_s

    @contextlib.asynccontextmanager
    async def admit(self, ip: str, size: int) -> AsyncIterator[RawAdmission]:
        """Quota for an upload, before a payload byte is stored; expired raw files make
        room first if the quota is short."""
        # A server-made name: nothing of the client's reaches the store.
        key = raw_key(secrets.token_hex(RAW_ID_BYTES))
        with answering_users():
            try:
                await self._store.accept_raw(key, ip, size, first_hold(size))
            except QuotaFull as full:
                if not await self.expire():
                    raise quota_refusal(full) from None
                await self._store.accept_raw(key, ip, size, first_hold(size))
        admission = RawAdmission(
            self._store, key, UploadHold(size, functools.partial(self._store.grow_raw, key))
        )
        try:
            async with admission.hold.kept():
                yield admission
        finally:
            if not admission.stored:
                with trio.CancelScope(shield=True):
                    await self._forget(key)

    async def _forget(self, key: str) -> None:
        try:
            await self._blobs.delete(key)
            await self._store.discard_raw(key)
        except Exception as exc:  # the store unreachable: the restart or reap sweep ends it
            log.warning("cannot discard raw upload %s now: %s", key, exc)

    async def expire(self) -> int:
        """Delete raw uploads older than the retention time; their quota goes back."""
        keys = await self._store.expire_raw(self.retention_s)
        for key in keys:
            await self._blobs.delete(key)
        if keys:
            log.info("expired %d raw upload(s)", len(keys))
        return len(keys)
