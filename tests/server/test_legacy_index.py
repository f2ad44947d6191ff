"""A storage directory of a server from before the job store (a JSON record per job):
the first start imports it, so finished results still download and raw files still
count against the quota (app/server/legacy_index.py)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from tests.support.server_process import ServerProcess
from tests.support.spec_client import SpecClient
from tests.support.spec_raw_client import fake_mp4, upload


def old_record(job_id: str, state: str, storage: Path, **fields: object) -> dict[str, object]:
    """A record as JobIndex wrote it (app/server/job.py's Job.to_record, issue 14)."""
    return {
        "id": job_id,
        "op": "compress",
        "params": {},
        "client_ip": "127.0.0.1",
        "filename": "holiday.mp4",
        "input_path": str(storage / "uploads" / job_id),
        "input_size": 5000,
        "input_media_type": "mp4",
        "created_at": time.time() - 60,
        "state": state,
        "error": None,
        "result_path": None,
        "result_media_type": None,
        "result_size": None,
        "result_sha256": None,
        "report": {},
        "finished_at": None,
        "downloaded": False,
        **fields,
    }


def test_the_json_index_of_an_older_server_is_imported_once(start_server, tmp_path: Path) -> None:
    # The old server ran from another directory: records name paths that moved since.
    storage = tmp_path / "storage"
    for sub in ("jobs", "uploads", "results", "raw"):
        (storage / sub).mkdir(parents=True)
    result = fake_mp4(30_000)
    done_id, running_id = "a" * 32, "b" * 32
    (storage / "results" / f"{done_id}.mp4").write_bytes(result)
    (storage / "uploads" / running_id).write_bytes(b"x" * 5000)
    records = {
        done_id: old_record(
            done_id,
            "done",
            tmp_path / "elsewhere",
            result_path=str(tmp_path / "elsewhere" / "results" / f"{done_id}.mp4"),
            result_media_type="mp4",
            result_size=len(result),
            result_sha256=hashlib.sha256(result).hexdigest(),
            report={"input_size": 5000, "output_size": len(result), "crf": 23},
            finished_at=time.time() - 30,
        ),
        running_id: old_record(running_id, "running", storage, client_ip="127.0.0.2"),
    }
    for job_id, record in records.items():
        (storage / "jobs" / f"{job_id}.json").write_text(json.dumps(record))
    (storage / "jobs" / "garbage.json").write_text("{not json")
    raw_size = 40_000
    (storage / "raw" / f"{'c' * 32}.mp4").write_bytes(fake_mp4(raw_size))

    server: ServerProcess = start_server(
        "--quota", str(len(result) + raw_size + 10_000), "--max-bytes-per-address", "0",
        storage_dir=storage,
    )  # fmt: skip
    assert not (storage / "jobs").exists()  # imported, then gone
    failed = SpecClient(server.host, server.port).request({"op": "status", "job_id": running_id})
    assert failed.doc["state"] == "failed" and failed.doc["error"]["code"] == "server_restarted"
    assert not (storage / "uploads" / running_id).exists()  # its input went with it
    # The imported result and raw file hold their bytes: 10,000 are left.
    assert upload(server.host, server.raw_port, fake_mp4(20_000)) == b"507 quota full \n"
    got = SpecClient(server.host, server.port).request({"op": "download", "job_id": done_id})
    assert got.doc["status"] == "ok" and got.payload == result
    assert got.doc["filename"] == "holiday.compress.mp4" and got.doc["report"]["crf"] == 23
    assert upload(server.host, server.raw_port, fake_mp4(20_000)) == b"200 stored     \n"

    # A restart finds the store already there: nothing is imported twice.
    server.restart()
    status = SpecClient(server.host, server.port).request({"op": "status", "job_id": done_id})
    assert status.doc["result"]["downloaded"] is True
    assert len(list((storage / "raw").iterdir())) == 2
