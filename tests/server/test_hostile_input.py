"""Hostile input through a real server: path tricks and odd UTF-8 in media types and file
names, JSON bombs, and job ids that cannot be guessed and reveal nothing when wrong."""

from __future__ import annotations

import json
from pathlib import Path

from app.server.job import JOB_ID_BYTES, new_job_id
from tests.server.test_spec_client import poll_until_done
from tests.server_process import ServerProcess
from tests.spec_client import SpecClient, header64


def everything_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def raw_request(server: ServerProcess, data: bytes) -> dict:
    client = SpecClient(server.host, server.port, timeout=15)
    try:
        client.send_bytes(data)
        return client.receive().doc
    finally:
        client.close()


def framed(body: bytes, media_type: bytes = b"", payload: bytes = b"") -> bytes:
    return header64(len(body), len(media_type), len(payload)) + body + media_type + payload


HOSTILE_MEDIA_TYPES = [
    b"..",
    b"../../etc",
    b"mp4/../x",
    b"/tmp",
    b"mp4\x00",
    b"mp4 ",
    b".mp4",
    b"%2e%2e",
    "ｍｐ４".encode(),  # fullwidth letters
    "\u212a".encode(),  # KELVIN SIGN, lower-cases to "k"
    "mp\u0130".encode(),  # dotted capital I, lower-cases to "i̇"
    b"\xff\xfe",  # not UTF-8 at all
    b"\xc0\xae\xc0\xae",  # overlong "..": invalid UTF-8 that naive decoders accept
    "mp4\u202e".encode(),  # right-to-left override
]


def test_hostile_media_types_are_refused_and_touch_no_file(server: ServerProcess) -> None:
    before = everything_under(server.storage_dir)
    for media_type in HOSTILE_MEDIA_TYPES:
        answer = raw_request(server, framed(b'{"op":"compress"}', media_type, b"x" * 100))
        assert answer["error"]["code"] == "bad_media_type", media_type
    assert everything_under(server.storage_dir) == before
    assert not Path("/etc/x").exists() and not Path("/tmp/x").exists()


def test_a_file_name_with_a_path_only_names_the_result(
    server: ServerProcess, clip_mp4: Path
) -> None:
    client = SpecClient(server.host, server.port)
    answer = client.request(
        {"op": "compress", "filename": "../../../../etc/cron.d/evil\u202e.MP4"},
        media_type="MP4",
        payload=clip_mp4.read_bytes(),
    )
    job_id = answer.doc["job_id"]
    status = poll_until_done(server, job_id)
    assert status["state"] == "done"
    assert status["result"]["filename"] == "evil.compress.mp4"
    names = everything_under(server.storage_dir)
    assert not any("evil" in n or "cron" in n or ".." in n for n in names), names
    assert f"results/{job_id}.mp4" in names


JSON_BOMBS = [
    ("deep arrays", b"[" * 30_000 + b"]" * 30_000),
    ("deep objects", b'{"a":' * 17 + b"1" + b"}" * 17),
    ("deep inside a valid op", b'{"op":"status","job_id":' + b"[" * 20 + b"]" * 20 + b"}"),
    ("a huge integer", b'{"op":"status","n":' + b"9" * 60_000 + b"}"),
    ("NaN", b'{"op":"status","wait_s":NaN}'),
    ("lone surrogate", b'{"op":"\\ud800"}'),
    ("not UTF-8", b'{"op":"\xff"}'),
    ("duplicate keys", b'{"op":"status","op":"compress"}'),
]
ODD_VALUES = [
    {"op": "compress", "codec": {"$ne": None}},
    {"op": "compress", "codec": "h264; rm -rf /"},
    {"op": ["status"]},
]


def test_json_bombs_and_odd_values_get_a_refusal_by_name(server: ServerProcess) -> None:
    for name, body in JSON_BOMBS:
        assert len(body) <= 65_536
        answer = raw_request(server, framed(body))
        assert answer["error"]["code"] in {"bad_json", "unknown_op", "payload_required"}, name
    for doc in ODD_VALUES:
        body = json.dumps(doc).encode()
        payload = b"x" * 10 if doc["op"] == "compress" else b""
        answer = raw_request(server, framed(body, b"mp4" if payload else b"", payload))
        assert answer["error"]["code"] in {"bad_params", "unknown_op"}, doc
    assert server.proc is not None and server.proc.poll() is None


def test_an_oversized_json_is_refused_from_the_header_alone(server: ServerProcess) -> None:
    # Declares 2^64 bytes of JSON and sends none: refused without reading (or buffering).
    head = (2**64).to_bytes(16, "big") + b"\x00" + bytes(47)
    assert raw_request(server, head)["error"]["code"] == "json_size"


def test_job_ids_carry_128_random_bits() -> None:
    assert JOB_ID_BYTES * 8 >= 128
    ids = [new_job_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    # Every bit position is set in about half of the ids: no fixed or counter-like bits.
    for bit in range(128):
        share = sum(int(i, 16) >> bit & 1 for i in ids) / len(ids)
        assert 0.4 < share < 0.6, (bit, share)


def test_a_wrong_job_id_reveals_nothing(server: ServerProcess) -> None:
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=b"\x00junk" * 1000
    )
    real = answer.doc["job_id"]
    assert poll_until_done(server, real)["state"] == "failed"  # a job that exists
    for wait_s in (b"1e999", b"-1e999", b'"30"', b"true"):  # 1e999 parses as infinity
        body = b'{"op":"status","job_id":"%s","wait_s":%s}' % (real.encode(), wait_s)
        assert raw_request(server, framed(body))["error"]["code"] == "bad_params", wait_s
    flipped = real[:-1] + ("0" if real[-1] != "0" else "1")
    wrong_ids = [
        flipped,
        real[:-1],
        real + "0",
        real.upper(),
        f"../{real}",
        f" {real}",
        "0" * 32,
        "",
        None,
        123,
        [real],
    ]
    for op in ("status", "download", "cancel"):
        answers = set()
        for wrong in wrong_ids:
            doc = {"op": op, "job_id": wrong}
            answers.add(json.dumps(raw_request(server, framed(json.dumps(doc).encode()))))
        answers.add(json.dumps(raw_request(server, framed(json.dumps({"op": op}).encode()))))
        assert len(answers) == 1, answers  # byte-identical: nothing to tell them apart
        assert json.loads(answers.pop())["error"]["code"] == "job_not_found"
