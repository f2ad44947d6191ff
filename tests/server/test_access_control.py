"""Who may use a server (SPEC §6): `--authorized-keys`, `vcs-serve keys`, and the limit on
key exchanges — against a real vcs-serve."""

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
from tests.key_exchange_flood import flood_key_exchanges
from tests.server_process import ServerProcess, wait_for
from tests.spec_client import SpecClient


def serve_keys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.server.cli", "keys", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def my_fingerprint(client_key_file: Path) -> str:
    return fingerprint(load_or_create_private_key(client_key_file).public_key())


@pytest.fixture
def other_keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    """A second client with its own key (made once per test module's directory)."""
    directory = tmp_path_factory.mktemp("other-client")
    return Keyring(directory, key_path=directory / "client_key.pem")


@pytest.mark.trio
async def test_unknown_keys_are_refused_at_the_handshake_with_their_fingerprint(
    start_server, tmp_path: Path, my_fingerprint: str, other_keyring: Keyring
) -> None:
    keys = tmp_path / "authorized_keys"
    other = fingerprint(other_keyring.client_key().public_key())
    assert serve_keys("add", other, "--name", "other", "-f", str(keys)).returncode == 0
    server: ServerProcess = start_server("--authorized-keys", str(keys))
    assert wait_for(lambda: any("access: only the 1 client key(s)" in s for s in server.log))
    with pytest.raises(ServerError) as refused:
        await VcsClient(server.address).status("0" * 32)
    info = refused.value.info
    assert info.code == "key_not_authorized"
    assert my_fingerprint in info.description and my_fingerprint in info.solution
    assert "vcs keys" in info.solution and "vcs-serve keys add" in info.solution
    # The listed key is served (a sealed answer), plaintext is refused in both dialects.
    with pytest.raises(ServerError) as served:
        await VcsClient(server.address, keyring=other_keyring).status("0" * 32)
    assert served.value.code == "job_not_found"
    for dialect in (64, 8):
        answer = SpecClient(server.host, server.port).request(
            {"op": "status", "job_id": "0" * 32}, dialect=dialect
        )
        assert answer.doc["error"]["code"] == "encryption_required"
    # The operator adds our key while the server runs: the next connection is served.
    added = serve_keys("add", my_fingerprint, "--name", "me", "--jobs", "1", "-f", str(keys))
    assert added.returncode == 0 and "added" in added.stdout
    with pytest.raises(ServerError) as served:
        await VcsClient(server.address).status("0" * 32)
    assert served.value.code == "job_not_found"
    listed = serve_keys("list", "-f", str(keys)).stdout
    assert other in listed and my_fingerprint in listed and "1 job(s) at once" in listed
    removed = serve_keys("remove", "me", "-f", str(keys))
    assert removed.returncode == 0 and my_fingerprint in removed.stdout
    with pytest.raises(ServerError) as refused:
        await VcsClient(server.address).status("0" * 32)
    assert refused.value.code == "key_not_authorized"


def test_keys_command_keeps_the_file_valid(tmp_path: Path, my_fingerprint: str) -> None:
    keys = tmp_path / "authorized_keys"
    assert serve_keys("list", "-f", str(keys)).returncode == 1  # no file yet
    bad = serve_keys("add", "SHA256:short", "-f", str(keys))
    assert bad.returncode == 2 and "not a fingerprint" in bad.stderr
    assert not keys.exists()
    assert serve_keys("add", my_fingerprint, "--quota", "5GB", "-f", str(keys)).returncode == 0
    again = serve_keys("add", my_fingerprint, "--name", "renamed", "-f", str(keys))
    assert again.returncode == 0 and "updated" in again.stdout
    lines = [line for line in keys.read_text().splitlines() if not line.startswith("#")]
    assert lines == [f"{my_fingerprint}  renamed"]  # one line per key, replaced
    assert serve_keys("remove", "nobody", "-f", str(keys)).returncode == 1
    keys.write_text(keys.read_text() + "garbage line here\n")
    broken = subprocess.run(
        [sys.executable, "-m", "app.server.cli", "--authorized-keys", str(keys), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode == 1 and "line 3" in broken.stderr and "Traceback" not in broken.stderr


def test_an_open_server_says_so_at_start(server: ServerProcess) -> None:
    assert wait_for(lambda: any("access: OPEN to any client" in line for line in server.log))


@pytest.mark.trio
async def test_key_exchanges_are_limited_per_address(start_server) -> None:
    server: ServerProcess = start_server("--key-exchange-rate", "0.05", "--key-exchange-burst", "3")
    client = VcsClient(server.address)
    codes = []
    for _ in range(5):
        with pytest.raises(ServerError) as answer:
            await client.status("0" * 32)
        codes.append(answer.value.code)
    assert codes[:3] == ["job_not_found"] * 3
    assert codes[3:] == ["too_many_key_exchanges"] * 2
    assert "Wait" in answer.value.info.solution
    # Another address has its own bucket; plaintext requests cost no key exchange.
    with pytest.raises(ServerError) as other:
        await VcsClient(server.address, source_host="127.0.0.2").status("0" * 32)
    assert other.value.code == "job_not_found"
    with pytest.raises(ServerError) as plain:
        await VcsClient(server.address, encrypt=False).status("0" * 32)
    assert plain.value.code == "job_not_found"


@pytest.mark.trio
@pytest.mark.timeout(180)
async def test_a_key_exchange_flood_does_not_stop_a_normal_clients_job(
    start_server, clip_mp4: Path, client_key, tmp_path: Path
) -> None:
    """4 addresses flood the server with key exchanges (bounded: 8 s) while a client on a
    fifth address runs a whole job on its one session: the job completes, the flooders
    are answered with the limit error."""
    server: ServerProcess = start_server()
    flooders = [f"127.0.0.{n}" for n in range(2, 6)]
    client = VcsClient(server.address, source_host="127.0.0.9")
    results: dict[str, object] = {}

    async def normal_job() -> None:
        await trio.sleep(1)  # the flood is under way
        async with client.session():
            job_id = (await client.upload("convert", clip_mp4, {"format": "mkv"}))["job_id"]
            for _ in range(60):
                status = await client.status(job_id, wait_s=5)
                if status["state"] in ("done", "failed"):
                    break
            results["status"] = status
            results["download"] = await client.download(job_id, tmp_path)

    flood_s = 8.0
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(normal_job)
        answers = await flood_key_exchanges(server.address, flooders, flood_s, client_key)
    elapsed = trio.current_time() - started
    assert results["status"]["state"] == "done"  # type: ignore[index]
    assert client.connections_opened == 1
    # Refused with the limit error, and never more signed than the buckets hold: per
    # address a burst of 32 and 4 per second (the server's defaults).
    assert answers["too_many_key_exchanges"] > 0, answers
    assert 0 < answers["key_exchange"] <= len(flooders) * (32 + 4 * elapsed), answers
