"""Encrypted MMP against a real vcs-serve (SPEC §6): every op, the policy, the keys and pins."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.client.api import VcsClient
from app.client.errors import ServerError, ServerKeyChanged
from app.client.keyring import Keyring, server_name
from app.server.ops import UPLOAD_OPS
from tests.media_files import make_clip
from tests.server_process import ServerProcess
from tests.spec_client import SpecClient

# The smallest valid parameters of every upload op of SPEC §2.1. A new op in
# app/server/ops fails test_every_upload_op_is_covered until it gets a line here.
MINIMAL_PARAMS: dict[str, dict[str, Any]] = {
    "compress": {},
    "resize": {"preset": "480p"},
    "aspect": {"ratio": "1:1"},
    "audio": {},
    "gif": {"start": 0, "end": 1},
    "webm": {"start": 0, "end": 1},
    "convert": {"format": "mkv"},
}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("encryption") / "tiny.mp4"
    return make_clip(path, seconds=2, size="320x240", rate=15)


def vcs(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def wait_done(client: VcsClient, job_id: str) -> dict[str, Any]:
    for _ in range(60):  # bounded: 60 long polls of at most 5 s
        status = await client.status(job_id, wait_s=5)
        if status["state"] in ("done", "failed", "cancelled"):
            return status
    raise AssertionError(f"job {job_id} did not finish: {status}")


def test_every_upload_op_is_covered() -> None:
    assert set(UPLOAD_OPS) <= set(MINIMAL_PARAMS)


@pytest.mark.trio
@pytest.mark.parametrize("op", sorted(UPLOAD_OPS))
async def test_encrypted_round_trip(start_server, tiny_clip: Path, tmp_path: Path, op: str):
    """Upload, status, download and cancel, each on its own encrypted connection."""
    server: ServerProcess = start_server("--require-encryption")
    client = VcsClient(server.address)
    accepted = await client.upload(op, tiny_clip, MINIMAL_PARAMS[op])
    assert accepted["status"] == "accepted" and accepted["op"] == op
    status = await wait_done(client, accepted["job_id"])
    assert status["state"] == "done", status
    got = await client.download(accepted["job_id"], tmp_path)  # checks size and SHA-256
    assert got.path.stat().st_size == got.answer["size"] > 0
    with pytest.raises(ServerError) as refused:  # a refusal comes back sealed too
        await client.cancel(accepted["job_id"])
    assert refused.value.code == "job_finished"
    assert server.files() == []


@pytest.mark.trio
async def test_encrypted_cancel(start_server, tiny_clip: Path) -> None:
    server: ServerProcess = start_server()
    client = VcsClient(server.address)
    job_id = (await client.upload("compress", tiny_clip))["job_id"]
    assert await client.cancel(job_id) == {"status": "cancelled", "job_id": job_id}
    assert (await client.status(job_id))["state"] == "cancelled"


@pytest.mark.trio
async def test_plaintext_clients_are_refused_under_require_encryption(start_server) -> None:
    server: ServerProcess = start_server("--require-encryption")
    for dialect in (64, 8):
        answer = SpecClient(server.host, server.port).request(
            {"op": "status", "job_id": "0" * 32}, dialect=dialect
        )
        assert answer.header_size == dialect  # a spec client can read the refusal
        assert answer.doc["error"]["code"] == "encryption_required"
    with pytest.raises(ServerError) as refused:
        await VcsClient(server.address, encrypt=False).status("0" * 32)
    assert refused.value.code == "encryption_required"
    with pytest.raises(ServerError) as refused:
        await VcsClient(server.address).status("0" * 32)
    assert refused.value.code == "job_not_found"  # encrypted: served


@pytest.mark.trio
async def test_plaintext_and_encrypted_clients_share_a_default_server(start_server) -> None:
    server: ServerProcess = start_server()
    answer = SpecClient(server.host, server.port).request({"op": "status", "job_id": "0" * 32})
    assert answer.doc["error"]["code"] == "job_not_found"
    for encrypt in (False, True):
        with pytest.raises(ServerError) as refused:
            await VcsClient(server.address, encrypt=encrypt).status("0" * 32)
        assert refused.value.code == "job_not_found"


@pytest.mark.trio
async def test_a_changed_server_key_is_refused_before_anything_is_sent(
    start_server, client_config: Path, tiny_clip: Path
) -> None:
    server: ServerProcess = start_server()
    keyring = Keyring.default()
    assert keyring.known_servers.path.is_relative_to(client_config)
    pinned = "SHA256:" + "A" * 43
    keyring.known_servers.replace(server_name(server.address), pinned)
    with pytest.raises(ServerKeyChanged) as refused:
        await VcsClient(server.address, keyring=keyring).upload("compress", tiny_clip)
    assert pinned in refused.value.info.description
    assert "vcs keys accept" in refused.value.info.solution
    assert server.files() == []
    assert not list((server.storage_dir / "jobs").iterdir())


def test_check_and_accept_a_new_server_key(start_server, server_key_file: Path) -> None:
    """The flow the refusal describes: the operator's fingerprint, `vcs keys accept`."""
    server: ServerProcess = start_server()
    address = str(server.address)
    assert vcs("keys", "accept", address, "SHA256:" + "B" * 43).returncode == 0
    refused = vcs("status", "0" * 32, "--server", address)
    assert refused.returncode == 5, refused.stderr
    said = " ".join(refused.stderr.split())  # as printed, without the line wrapping
    assert f"`vcs keys accept {address} SHA256:" in said and "Traceback" not in said
    show = ["--show-fingerprint", "--key-file", str(server_key_file)]
    shown = subprocess.run(
        [sys.executable, "-m", "app.server.cli", *show],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert f"accept {address} {shown}`" in said  # the key it presented is the operator's
    assert vcs("keys", "accept", address, shown).returncode == 0
    served = vcs("status", "0" * 32, "--server", address)
    assert served.returncode == 3 and "job_not_found" in served.stderr  # a sealed answer


def test_the_server_makes_its_key_on_first_start(tmp_path: Path, client_config: Path) -> None:
    storage = tmp_path / "storage"
    server = ServerProcess(storage).start()
    try:
        key_file = storage / "server_key.pem"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        first = vcs("status", "0" * 32, "--server", str(server.address))
        assert first.returncode == 3 and "pinned the key" in first.stderr
        server.restart()  # the key persists: the pin still matches
        again = vcs("status", "0" * 32, "--server", str(server.address))
        assert again.returncode == 3 and "pinned the key" not in again.stderr, again.stderr
    finally:
        server.stop()
    os.chmod(key_file, 0o644)
    exposed = subprocess.run(
        [sys.executable, "-m", "app.server.cli", "--storage-dir", str(storage), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert exposed.returncode == 1
    assert f"chmod 600 {key_file}" in exposed.stderr and "Traceback" not in exposed.stderr


def test_the_client_makes_its_key_on_first_use_and_vcs_keys_shows_it(
    start_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: ServerProcess = start_server()
    home = tmp_path / "fresh-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("VCS_CLIENT_KEY")  # the default place, as a user has it
    address = str(server.address)
    assert vcs("status", "0" * 32, "--server", address).returncode == 3
    key_file = home / "vcs" / "client_key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    listed = vcs("keys")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("your key  SHA256:") and str(key_file) in lines[0]
    pins = [line.split() for line in lines[2:]]
    assert len(pins) == 1 and pins[0][0] == address and pins[0][1].startswith("SHA256:")
    assert vcs("keys", "forget", address).returncode == 0
    assert address not in vcs("keys").stdout
