"""A job's result is moved into place and hashed in one step (app/server/worker.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import trio

from app.server.storage import Storage
from app.server.worker import commit_and_hash


@pytest.mark.trio
async def test_commit_and_hash_gives_the_final_files_digest(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "store")
    storage.prepare()
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read block, not a whole one
    final = storage.result_path("0" * 32, "mp4")
    with storage.partial_result() as partial:
        partial.path.write_bytes(data)  # as FFmpeg writes it, by name
        digest = await commit_and_hash(partial, final, trio.CapacityLimiter(1))
    assert digest == hashlib.sha256(data).hexdigest()
    assert final.read_bytes() == data
    assert list(storage.results.iterdir()) == [final]  # no partial name left behind
