"""Bulk transfers below the stream layer on plain TCP: payloads of 1 MiB and more are
spliced into the file by a worker thread (app/wire/payload_receive.py), downloads go out
with sendfile(2). The same rules must hold there as byte by byte — hashes checked on
what reached the disk, truncation, idle and slow-transfer limits, clients dying at any
offset, shutdown mid-payload — and nothing partial is ever left."""

from __future__ import annotations

import contextlib
import hashlib
import random
import signal
import socket
import time

import trio

from app.client.api import VcsClient
from tests.server.test_faults import die, storage_leftovers
from tests.server.test_limits import connect, trickle
from tests.support.seeded_jobs import seed_finished_job
from tests.support.server_process import wait_for
from tests.support.spec_client import SpecClient, header64
from tests.support.spec_raw_client import RawClient, fake_mp4, prefix
from tests.support.spec_raw_client import upload as raw_upload

MiB = 1024 * 1024
BODY = b'{"op":"compress"}'


def message(payload: bytes, body: bytes = BODY) -> bytes:
    return header64(len(body), 3, len(payload)) + body + b"mp4" + payload


def test_a_spliced_payload_is_stored_whole_and_its_hash_checked(start_server) -> None:
    server = start_server()
    payload = fake_mp4(6 * MiB + 12345)
    good = hashlib.sha256(payload).hexdigest()
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress", "sha256": good}, media_type="mp4", payload=payload
    )
    # The hash was computed from the file's bytes read back: the file holds the payload.
    assert answer.doc["status"] == "accepted", answer.doc
    assert answer.doc["size"] == len(payload)
    bad = hashlib.sha256(payload + b"x").hexdigest()
    refused = SpecClient(server.host, server.port, source="127.0.0.2").request(
        {"op": "compress", "sha256": bad}, media_type="mp4", payload=payload
    )
    assert refused.doc["error"]["code"] == "hash_mismatch"
    assert wait_for(lambda: not any(p.endswith(".part") for p in storage_leftovers(server)))


def test_a_connection_cut_mid_payload_is_truncated_and_leaves_nothing(start_server) -> None:
    size = 3 * MiB
    server = start_server("--max-bytes-per-address", "0", "--quota", str(size))
    whole = message(fake_mp4(size))
    rng = random.Random(5)
    for trial in range(12):
        client = SpecClient(server.host, server.port, source=f"127.0.7.{trial + 1}")
        client.send_bytes(whole[: rng.randrange(len(whole) - size + MiB, len(whole))])
        die(client, rng)
        assert wait_for(lambda: storage_leftovers(server) == [], 5), f"trial {trial}"
    # No reservation leaked: the whole quota takes one more upload of that size.
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=fake_mp4(size)
    )
    assert answer.doc["status"] == "accepted", answer.doc


def test_silence_mid_payload_gets_the_timeout_answer(start_server) -> None:
    server = start_server("--idle-timeout", "1")
    client = SpecClient(server.host, server.port)
    client.send_bytes(message(fake_mp4(4 * MiB))[: 2 * MiB])
    assert client.receive().doc["error"]["code"] == "timeout"
    assert wait_for(lambda: storage_leftovers(server) == [])


def test_a_trickle_mid_payload_is_dropped_as_too_slow(start_server) -> None:
    server = start_server(
        "--idle-timeout", "60", "--min-transfer-rate", "100", "--transfer-window", "2"
    )
    whole = message(bytes(4 * MiB))
    sock = connect(server, "127.0.0.1")
    sock.sendall(whole[: 2 * MiB])
    answer = trickle(sock, whole[2 * MiB :], 0.25, 20)
    assert b'"too_slow"' in answer
    assert wait_for(lambda: storage_leftovers(server) == [])


def test_shutdown_mid_payload_stops_the_transfer_and_leaves_nothing(start_server) -> None:
    server = start_server("--drain-timeout", "0")
    client = SpecClient(server.host, server.port)
    client.send_bytes(message(fake_mp4(8 * MiB))[: 3 * MiB])
    time.sleep(0.3)  # the splice thread is waiting for more
    started = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout_s=20) is not None
    assert time.monotonic() - started < 10
    assert storage_leftovers(server) == []


def test_a_client_that_stops_reading_a_download_is_dropped(start_server, tmp_path) -> None:
    """Downloads go out with sendfile(2) under the same slow-transfer rule: a peer that
    stops reading cannot pin the connection, and its result is kept for another try."""
    storage = tmp_path / "storage"
    source = tmp_path / "result.bin"
    source.write_bytes(fake_mp4(48 * MiB))  # more than loopback's socket buffers hold
    job_id = seed_finished_job(storage, source, hashlib.sha256(source.read_bytes()).hexdigest())
    server = start_server(
        "--min-transfer-rate", "100000", "--transfer-window", "2", storage_dir=storage
    )
    reader = SpecClient(server.host, server.port)
    reader.send({"op": "download", "job_id": job_id})
    reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.recv_exact(64)  # the head starts arriving; then the reader stalls
    time.sleep(6)  # well past the 2 s window
    reader.sock.settimeout(10)
    with contextlib.suppress(ConnectionResetError):
        while reader.sock.recv(1 << 20):  # what was in flight, then the server's close
            pass
    again = SpecClient(server.host, server.port).request({"op": "download", "job_id": job_id})
    assert again.doc["status"] == "ok" and len(again.payload) == 48 * MiB


def test_more_concurrent_spliced_uploads_than_trio_has_default_threads(
    start_server, tmp_path
) -> None:
    """48 hashed uploads at once, each with a splice pump and a hash follower thread: more
    threads than trio's default limiter (40) holds. All are stored and verified."""
    # 48 clients of one /24: the per-network job cap is not what this test is about.
    server = start_server("--max-connections-per-ip", "0", "--max-jobs-per-network", "0")
    payload = tmp_path / "payload.mp4"
    payload.write_bytes(fake_mp4(2 * MiB))
    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    answers: list[dict] = []

    async def one(i: int) -> None:
        client = VcsClient(server.address, source_host=f"127.0.9.{i + 1}", encrypt=False)
        answers.append(await client.upload("compress", payload, {"sha256": sha}, verify=False))

    async def all_at_once() -> None:
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                for i in range(48):
                    nursery.start_soon(one, i)

    trio.run(all_at_once)
    assert [a["status"] for a in answers] == ["accepted"] * 48


def test_a_raw_upload_is_spliced_and_stored_byte_for_byte(start_server) -> None:
    server = start_server()
    data = fake_mp4(5 * MiB + 77)
    assert raw_upload(server.host, server.raw_port, data) == b"200 stored     \n"
    stored = sorted((server.storage_dir / "raw").iterdir())
    assert [p.read_bytes() == data for p in stored] == [True]


def test_a_raw_upload_cut_mid_file_leaves_nothing(start_server) -> None:
    server = start_server()
    client = RawClient(server.host, server.raw_port)
    client.send((prefix(6 * MiB) + fake_mp4(6 * MiB))[: 3 * MiB])
    die(client, random.Random(3))
    assert wait_for(lambda: storage_leftovers(server) == [])
    assert list((server.storage_dir / "raw").iterdir()) == []
