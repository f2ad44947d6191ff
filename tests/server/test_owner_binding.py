"""Jobs belong to the key that made them (SPEC §6): another key — or a plaintext client —
cannot see, download or cancel them; per-key limits of the authorized-keys file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from app.client.api import VcsClient
from app.client.errors import ServerError
from app.client.keyring import Keyring
from app.protocol.secure import fingerprint
from app.wire.key_files import load_or_create_private_key
from tests.server_process import ServerProcess


@pytest.fixture(scope="module")
def second_key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("second-client")
    load_or_create_private_key(directory / "client_key.pem")  # about a second: once
    return directory


def keyring_at(directory: Path) -> Keyring:
    return Keyring(directory, key_path=directory / "client_key.pem")


async def refused_code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ServerError) as refused:
        await call
    return str(refused.value.code)


async def until_done(client: VcsClient, job_id: str) -> dict:
    for _ in range(60):
        status = await client.status(job_id, wait_s=5)
        if status["state"] in ("done", "failed", "cancelled"):
            return status
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.trio
async def test_a_second_key_cannot_see_download_or_cancel_the_first_keys_job(
    server: ServerProcess, clip_mp4: Path, tmp_path: Path, second_key_dir: Path
) -> None:
    owner = VcsClient(server.address)
    other = VcsClient(server.address, source_host="127.0.0.2", keyring=keyring_at(second_key_dir))
    plain = VcsClient(server.address, source_host="127.0.0.3", encrypt=False)
    job_id = (await owner.upload("convert", clip_mp4, {"format": "mkv"}))["job_id"]
    assert (await until_done(owner, job_id))["state"] == "done"
    out = tmp_path / "out"
    out.mkdir()
    for stranger in (other, plain):
        # The answers an id that does not exist gets, word for word.
        assert await refused_code(stranger.status(job_id)) == "job_not_found"
        assert await refused_code(stranger.download(job_id, out)) == "job_not_found"
        assert await refused_code(stranger.cancel(job_id)) == "job_not_found"
    assert list(out.iterdir()) == []
    # Still there for its owner, also after a restart (the owner is in the job's record).
    await trio.to_thread.run_sync(server.restart)
    assert await refused_code(other.status(job_id)) == "job_not_found"
    got = await owner.download(job_id, out)
    assert got.path.stat().st_size == got.answer["size"] > 0
    # A plaintext job (no key) stays open to whoever has its id, as before.
    plain_job = (await plain.upload("convert", clip_mp4, {"format": "mkv"}))["job_id"]
    assert (await until_done(other, plain_job))["state"] == "done"


def add_key(keys: Path, key_fingerprint: str, *options: str) -> None:
    argv = [sys.executable, "-m", "app.server.cli", "keys", "add", key_fingerprint, *options]
    done = subprocess.run(
        [*argv, "-f", str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.trio
async def test_per_key_limits_of_the_authorized_keys_file(
    start_server,
    slow_clip: Path,
    clip_mp4: Path,
    tmp_path: Path,
    client_key_file: Path,
    second_key_dir: Path,
) -> None:
    keys = tmp_path / "authorized_keys"
    me = fingerprint(load_or_create_private_key(client_key_file).public_key())
    add_key(keys, me, "--name", "me", "--jobs", "1")
    tight = keyring_at(second_key_dir)
    add_key(keys, fingerprint(tight.client_key().public_key()), "--quota", "1KB")
    server: ServerProcess = start_server("--authorized-keys", str(keys), "--max-jobs", "1")
    first = VcsClient(server.address)
    job_id = (await first.upload("compress", slow_clip))["job_id"]
    # Another address, the same key: the key's own cap (one job at once) refuses it.
    again = VcsClient(server.address, source_host="127.0.0.2")
    with pytest.raises(ServerError) as refused:
        await again.upload("compress", clip_mp4)
    assert refused.value.code == "key_quota_exceeded"
    assert "me" in refused.value.info.description
    # The other key may hold 1 KB: the clip does not fit, nothing is stored.
    small = VcsClient(server.address, source_host="127.0.0.3", keyring=tight)
    with pytest.raises(ServerError) as refused:
        await small.upload("convert", clip_mp4, {"format": "mkv"})
    assert refused.value.code == "key_quota_exceeded"
    assert (await first.cancel(job_id))["status"] == "cancelled"
