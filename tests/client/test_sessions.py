"""Sessions (SPEC §2.1): one connection and one key exchange carry a whole job, and a
session survives the server closing or dropping its connection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.errors import ServerError
from tests.server_process import ServerProcess
from tests.tamper_proxy import TamperProxy, running_in_thread


async def until_done(client: VcsClient, job_id: str) -> dict:
    for _ in range(60):  # bounded: 60 long polls of at most 5 s
        status = await client.status(job_id, wait_s=5)
        if status["state"] in ("done", "failed", "cancelled"):
            return status
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.trio
@pytest.mark.parametrize("encrypt", [True, False], ids=["sealed", "plaintext"])
async def test_many_requests_on_one_session(
    server: ServerProcess, clip_mp4: Path, tmp_path: Path, encrypt: bool
) -> None:
    proxy = TamperProxy((server.host, server.port), split_units=encrypt)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        client = VcsClient(ServerAddress("127.0.0.1", proxy.port), encrypt=encrypt)
        async with client.session():
            job_id = (await client.upload("convert", clip_mp4, {"format": "mkv"}))["job_id"]
            assert (await until_done(client, job_id))["state"] == "done"
            got = await client.download(job_id, tmp_path)
            assert got.path.stat().st_size == got.answer["size"] > 0
            second = (await client.upload("compress", clip_mp4))["job_id"]
            assert (await client.cancel(second))["status"] == "cancelled"
            assert (await client.status(second))["state"] == "cancelled"
        nursery.cancel_scope.cancel()
    assert client.connections_opened == proxy.connections == 1
    assert proxy.key_exchanges == (1 if encrypt else 0)


def test_vcs_compress_makes_one_connection_and_one_key_exchange(
    server: ServerProcess, clip_mp4: Path, tmp_path: Path
) -> None:
    """The whole CLI job — upload, long polls, the result's size, the download — counted
    by a recording proxy between `vcs` and the server."""
    proxy = TamperProxy((server.host, server.port))
    with running_in_thread(proxy) as port:
        argv = [sys.executable, "-m", "app.cli", "compress", str(clip_mp4)]
        argv += ["--server", f"127.0.0.1:{port}", "-o", str(tmp_path / "out.mp4")]
        done = subprocess.run(
            [*argv, "--poll-interval", "2", "-q"],
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.mp4").stat().st_size > 0
    assert (proxy.connections, proxy.key_exchanges) == (1, 1)


@pytest.mark.trio
async def test_a_session_outlives_the_servers_idle_timeout_and_a_restart(
    start_server, clip_mp4: Path
) -> None:
    server: ServerProcess = start_server("--idle-timeout", "1")
    client = VcsClient(server.address)
    async with client.session():
        job_id = (await client.upload("convert", clip_mp4, {"format": "mkv"}))["job_id"]
        assert (await until_done(client, job_id))["state"] == "done"
        await trio.sleep(2)  # the server closes the idle connection meanwhile
        assert (await client.status(job_id))["state"] == "done"  # asked again, transparently
        assert client.connections_opened == 2
        await trio.to_thread.run_sync(server.restart)  # same port, the job survives
        assert (await client.status(job_id))["state"] == "done"
        assert client.connections_opened == 3
        with pytest.raises(ServerError):  # a refusal closes the connection (server side)
            await client.status("0" * 32)
        assert (await client.status(job_id))["state"] == "done"  # a new one is opened
    assert client.connections_opened == 4
