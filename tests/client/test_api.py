"""The trio client library: early refusals stop an upload, downloads are atomic."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.errors import ServerError
from tests.server_process import ServerProcess


@pytest.mark.trio
async def test_refused_upload_stops_early(start_server, tmp_path: Path) -> None:
    server: ServerProcess = start_server("--max-bytes-per-address", "0", "--quota", "1000")
    big = tmp_path / "big.mp4"
    with big.open("wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: costs no disk
    sent: list[int] = []
    with pytest.raises(ServerError) as info:
        await VcsClient(server.address).upload("compress", big, progress=sent.append, verify=False)
    assert info.value.code == "quota_exceeded"
    assert sum(sent) < 200 * 1024 * 1024  # it did not push the whole file first


@pytest.mark.trio
async def test_download_of_unknown_job_leaves_no_file(server: ServerProcess, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ServerError):
        await VcsClient(server.address).download("a" * 32, out)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("example.org:9100", "example.org", 9100),
        ("127.0.0.1", "127.0.0.1", 9000),
        ("[::1]:9001", "::1", 9001),
        ("::1", "::1", 9000),
    ],
)
def test_server_address_parsing(text: str, host: str, port: int) -> None:
    assert ServerAddress.parse(text) == ServerAddress(host, port)


@pytest.mark.trio
async def test_status_of_a_failed_job_is_an_answer_not_a_refusal(server: ServerProcess, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not media" * 1000)
    client = VcsClient(server.address)
    job_id = (await client.upload("compress", junk))["job_id"]
    status = await client.status(job_id, wait_s=30)
    while status["state"] not in ("failed", "done"):
        status = await client.status(job_id, wait_s=30)
    assert status["state"] == "failed"
    assert status["error"]["code"] == "unreadable_media"
