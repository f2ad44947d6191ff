"""An attacker on the path (a proxy on loopback) alters, drops, replays or cuts sealed traffic:
every change is refused and nothing is stored; a capture shows no JSON and no payload."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import pytest
import trio

from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.errors import ConnectionFailed, ServerError
from app.protocol.secure.records import MAX_PLAINTEXT
from tests.server_process import ServerProcess
from tests.tamper_proxy import (
    Action,
    TamperProxy,
    cut_before,
    drop,
    flip_bit,
    keep,
    replay,
    swap_with_next,
)

PAYLOAD_SIZE = 300_000
PAYLOAD_RECORDS = math.ceil(PAYLOAD_SIZE / MAX_PLAINTEXT)  # 18
# Client → server units: 0 key_exchange, 1 key_exchange_finish, 2 the request's head
# (header, JSON, media type) in one record, 3.. the payload's records.
HEAD, FIRST_PAYLOAD = 2, 3
MIDDLE = FIRST_PAYLOAD + PAYLOAD_RECORDS // 2
LAST = FIRST_PAYLOAD + PAYLOAD_RECORDS - 1

CLIENT_SIDE_ATTACKS: dict[str, Action] = {
    "bit in key_exchange": flip_bit(0, -20),
    "bit in key_exchange_finish": flip_bit(1, -30),
    "bit in a record's length": flip_bit(HEAD, 0, 0x80),
    "bit in a record's type": flip_bit(HEAD, 2),
    "bit in the request JSON": flip_bit(HEAD, 20),
    "bit in the payload": flip_bit(MIDDLE, 5000),
    "bit in the last tag": flip_bit(LAST, -1),
    "dropped record": drop(MIDDLE),
    "replayed record": replay(MIDDLE),
    "reordered records": swap_with_next(MIDDLE),
    "truncated stream": cut_before(MIDDLE),
}


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.mp4"
    path.write_bytes(os.urandom(PAYLOAD_SIZE))
    return path


def stored(server: ServerProcess) -> list[Path]:
    """Uploads, results, partial files and job records: everything a request can leave."""
    return server.files() + sorted((server.storage_dir / "jobs").iterdir())


async def settles_empty(server: ServerProcess) -> bool:
    """Polls the server's storage (another process) for up to 10 s."""
    for _ in range(200):
        if not stored(server):
            return True
        await trio.sleep(0.05)
    return False


@pytest.mark.trio
@pytest.mark.parametrize("attack", list(CLIENT_SIDE_ATTACKS))
async def test_tampered_upload_is_refused_and_nothing_is_stored(
    start_server, payload: Path, attack: str
) -> None:
    server: ServerProcess = start_server("--idle-timeout", "5")
    proxy = TamperProxy((server.host, server.port), CLIENT_SIDE_ATTACKS[attack])
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            client = VcsClient(ServerAddress("127.0.0.1", proxy.port), answer_timeout_s=10)
            with pytest.raises((ServerError, ConnectionFailed)) as refused:
                await client.upload("compress", payload)
            if isinstance(refused.value, ServerError):
                assert refused.value.code in ("bad_record", "bad_handshake", "bad_json")
            assert await settles_empty(server), stored(server)
            # The same upload, untouched, is accepted: the attack (and nothing else) was
            # refused, and it left no job behind (one job per IP would refuse this one).
            proxy.client_to_server = keep
            accepted = await client.upload("compress", payload)
            assert accepted["status"] == "accepted"
            nursery.cancel_scope.cancel()
    assert len(list((server.storage_dir / "jobs").iterdir())) == 1


@pytest.mark.trio
async def test_altered_server_answers_are_refused(
    start_server, clip_mp4: Path, tmp_path: Path
) -> None:
    server: ServerProcess = start_server()
    direct = VcsClient(server.address)
    out = tmp_path / "out"
    out.mkdir()
    # Server → client units: 0 the key exchange answer, 1 the answer's head, 2.. payload.
    for attack in (flip_bit(0, -40), flip_bit(1, 30), flip_bit(2, 100), drop(2)):
        # A fresh result per attack: the server deletes a result once it has sent it all,
        # which it may well have done before the client noticed the damage. (convert
        # copies the streams: a result of the clip's size in a second.)
        job_id = (await direct.upload("convert", clip_mp4, {"format": "mkv"}))["job_id"]
        for _ in range(60):
            if (await direct.status(job_id, wait_s=5))["state"] == "done":
                break
        proxy = TamperProxy((server.host, server.port), server_to_client=attack)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(proxy.serve)
                client = VcsClient(ServerAddress("127.0.0.1", proxy.port), answer_timeout_s=10)
                with pytest.raises(ConnectionFailed):
                    await client.download(job_id, out)
                nursery.cancel_scope.cancel()
        assert list(out.iterdir()) == []  # no file, not even a partial one


def common_run(data: bytes, capture: bytes, run: int = 64) -> bool:
    """True when some `run` bytes of `data` appear in `capture`, at any offsets.

    Any common run of 64 bytes contains an aligned 32-byte block of `data`; look those
    blocks up at every offset of the capture, then check the run around each hit.
    """
    block = run // 2
    blocks: dict[bytes, list[int]] = {}
    for start in range(0, len(data) - block + 1, block):
        blocks.setdefault(data[start : start + block], []).append(start)
    for at in range(len(capture) - block + 1):
        for start in blocks.get(capture[at : at + block], ()):
            # The run begins up to `run - block` bytes before the block, in both.
            for shift in range(min(start, at, run - block) + 1):
                d, c = start - shift, at - shift
                if len(data[d : d + run]) == run and data[d : d + run] == capture[c : c + run]:
                    return True
    return False


def test_common_run_finds_what_it_should() -> None:
    data = os.urandom(5000)
    for start in (0, 1, 31, 32, 33, 1234, 5000 - 64):
        # Noise whose edge bytes differ from the bytes around the slice in `data`: by
        # chance (1 in 256) they could extend a 63-byte slice to a real 64-byte run.
        before = data[start - 1] if start else 0
        after = data[start + 63]
        noise = os.urandom(299)
        pre, post = noise + bytes([before ^ 0xFF]), bytes([after ^ 0xFF]) + noise
        assert common_run(data, pre + data[start : start + 64] + post), start
        assert common_run(data, data[start : start + 64]), start
        assert not common_run(data, pre + data[start : start + 63] + post), start
    assert not common_run(data, os.urandom(20_000))


@pytest.mark.trio
async def test_a_capture_shows_neither_the_json_nor_the_payload(
    start_server, clip_mp4: Path, tmp_path: Path
) -> None:
    server: ServerProcess = start_server()
    proxy = TamperProxy((server.host, server.port))
    upload = clip_mp4.read_bytes()
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        client = VcsClient(ServerAddress("127.0.0.1", proxy.port))
        accepted = await client.upload("compress", clip_mp4, {"codec": "h264"})
        job_id = accepted["job_id"]
        for _ in range(60):
            status = await client.status(job_id, wait_s=5)
            if status["state"] == "done":
                break
        got = await client.download(job_id, tmp_path)
        nursery.cancel_scope.cancel()
    capture = bytes(proxy.captured)
    result = got.path.read_bytes()
    assert len(capture) > len(upload) + len(result)  # it did see the whole exchange
    for secret in (
        b"compress",  # the request's op
        b'"h264"',  # its parameters
        clip_mp4.name.encode(),
        hashlib.sha256(upload).hexdigest().encode(),
        job_id.encode(),  # the answers
        b"accepted",
        b'"state"',
        got.answer["sha256"].encode(),
        # The media type, as plaintext MMP carries it: after the JSON, before the payload.
        # (Three bytes alone turn up by chance in megabytes of ciphertext.)
        b"}mp4" + upload[:8],
    ):
        assert secret not in capture, secret
    assert not common_run(upload, capture)
    assert not common_run(result, capture)


BULK_SIZE = 3 * 1024 * 1024  # past 1 MiB: the sealed pumps carry it (app/wire/sealed_pump.py)
BULK_RECORDS = math.ceil(BULK_SIZE / MAX_PLAINTEXT)
BULK_MIDDLE = FIRST_PAYLOAD + BULK_RECORDS // 2

BULK_ATTACKS: dict[str, Action] = {
    "bit in the payload": flip_bit(BULK_MIDDLE, 30_000),
    "bit in a record's length": flip_bit(BULK_MIDDLE, 0, 0x80),
    "dropped record": drop(BULK_MIDDLE),
    "replayed record": replay(BULK_MIDDLE),
    "truncated stream": cut_before(BULK_MIDDLE),
}


@pytest.mark.trio
@pytest.mark.parametrize("attack", list(BULK_ATTACKS))
async def test_tampered_bulk_upload_is_refused_on_the_fast_path(
    start_server, tmp_path: Path, attack: str
) -> None:
    """The same attacks on a payload the worker-thread pumps seal and open."""
    server: ServerProcess = start_server("--idle-timeout", "5")
    payload = tmp_path / "bulk.mp4"
    payload.write_bytes(os.urandom(BULK_SIZE))
    proxy = TamperProxy((server.host, server.port), BULK_ATTACKS[attack])
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            client = VcsClient(ServerAddress("127.0.0.1", proxy.port), answer_timeout_s=10)
            with pytest.raises((ServerError, ConnectionFailed)) as refused:
                await client.upload("compress", payload)
            if isinstance(refused.value, ServerError):
                assert refused.value.code in ("bad_record", "timeout")
            assert await settles_empty(server), stored(server)
            proxy.client_to_server = keep
            assert (await client.upload("compress", payload))["status"] == "accepted"
            nursery.cancel_scope.cancel()
