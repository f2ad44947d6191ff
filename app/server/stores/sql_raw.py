"""Raw uploads' rows (docs/protocol.md): one per stored file, kept until its retention ends.

A raw upload is not a job (no address slot, no work), but its bytes are held against
the same quota as jobs' and counted in its address's share, in the same transactions
as its rows: `uploading` while the file arrives (held: what arrived plus a headroom),
`stored` once committed (held: its size), gone when it expires.
"""

from __future__ import annotations

from app.server.stores.job_store import TransitionRefused
from app.server.stores.sql_core import Cursor, SqlStoreCore


class SqlRawUploads(SqlStoreCore):
    def _arriving(self, cur: Cursor, key: str) -> tuple[str, int, int]:
        """(address, size, reserved) of a raw upload in progress, locked; else
        TransitionRefused."""
        cur.execute(
            "SELECT client_ip, size, reserved FROM vcs_raw_uploads "
            f"WHERE key = %s AND state = 'uploading'{self.db.for_update}",
            (key,),
        )
        row = cur.fetchone()
        if row is None:
            raise TransitionRefused(key)
        return str(row[0]), int(row[1]), int(row[2])

    async def accept_raw(self, key: str, address: str, size: int, held: int) -> None:
        """A raw upload starts: `size` bytes must fit, `held` are reserved now
        (QuotaFull, and nothing written, if not)."""

        def write() -> None:
            with self._tx() as cur:
                reserve = min(held, size)
                self._reserve(cur, reserve, address, must_fit=size)
                cur.execute(
                    "INSERT INTO vcs_raw_uploads (key, client_ip, node, state, size, reserved, "
                    f"created_at) VALUES (%s, %s, %s, 'uploading', %s, %s, {self.db.now})",
                    (key, address, self.node, size, reserve),
                )

        await self._run(write)

    async def grow_raw(self, key: str, held: int) -> None:
        """The raw upload in progress holds `held` bytes now; QuotaFull if they do not fit."""

        def write() -> None:
            with self._tx() as cur:
                address, size, reserved = self._arriving(cur, key)
                want = min(held, size)
                if want > reserved:
                    self._reserve(cur, want - reserved, address)
                    cur.execute(
                        "UPDATE vcs_raw_uploads SET reserved = %s WHERE key = %s", (want, key)
                    )

        await self._run(write)

    async def raw_stored(self, key: str) -> None:
        """The file is committed: it holds exactly its size from now until it expires."""

        def write() -> None:
            with self._tx() as cur:
                _, size, reserved = self._arriving(cur, key)
                self._release(cur, reserved - size)
                cur.execute(
                    "UPDATE vcs_raw_uploads SET state = 'stored', reserved = size, "
                    f"stored_at = {self.db.now} WHERE key = %s",
                    (key,),
                )

        await self._run(write)

    async def discard_raw(self, key: str) -> None:
        """A raw upload that did not complete: its row and what it held go."""

        def write() -> None:
            with self._tx() as cur:
                cur.execute(
                    "DELETE FROM vcs_raw_uploads WHERE key = %s AND state = 'uploading' "
                    "RETURNING reserved",
                    (key,),
                )
                row = cur.fetchone()
                if row is not None:
                    self._release(cur, int(row[0]))

        await self._cleanup(write)

    async def expire_raw(self, retention_s: float) -> list[str]:
        """Stored raw uploads older than the retention time go; their keys (to delete)."""

        def write() -> list[str]:
            with self._tx() as cur:
                cur.execute(
                    "DELETE FROM vcs_raw_uploads WHERE state = 'stored' "
                    f"AND stored_at <= {self.db.now} - %s RETURNING key, reserved",
                    (retention_s,),
                )
                rows = cur.fetchall()
                self._release(cur, sum(int(reserved) for _, reserved in rows))
                return [key for key, _ in rows]

        return await self._run(write)

    async def import_raw(self, key: str, size: int, stored_at: float) -> None:
        """A raw file found on disk from before the job store (its holder unknown)."""

        def write() -> None:
            with self._tx() as cur:
                cur.execute(
                    "INSERT INTO vcs_raw_uploads (key, client_ip, node, state, size, reserved, "
                    "created_at, stored_at) VALUES (%s, '', %s, 'stored', %s, %s, %s, %s) "
                    "ON CONFLICT (key) DO NOTHING",
                    (key, self.node, size, size, stored_at, stored_at),
                )
                if cur.rowcount:
                    self._hold_existing(cur, size)

        await self._run(write)
