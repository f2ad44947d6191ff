"""Faults (docs/operations.md): clients dying, the server killed and restarted, a full disk,
FFmpeg crashing or hanging. Each must leave no partial file and no leaked quota."""

from __future__ import annotations

import random
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.media.ffmpeg_exe import find_ffmpeg
from tests.server.test_spec_client import poll_until_done
from tests.support.server_process import ServerProcess, kill_with_children, wait_for
from tests.support.spec_client import SpecClient, header64
from tests.support.spec_raw_client import RawClient, fake_mp4, prefix, upload

TRIALS = 150


def storage_leftovers(server: ServerProcess) -> list[str]:
    """Every partial file anywhere in storage, stored uploads and results, and the job
    store's rows of uploads and raw uploads (a blob goes before its row: both must go)."""
    partials = [p for p in server.storage_dir.rglob(".*.part")]
    files = sorted(str(p) for p in {*partials, *server.files()})
    rows = [f"upload {job_id}" for job_id, state in server.job_rows() if state == "uploading"]
    return files + rows + [f"raw upload {key}" for key in server.raw_upload_rows()]


def die(client: SpecClient | RawClient, rng: random.Random) -> None:
    """The client vanishes: half the time with a FIN, half with an RST."""
    if rng.random() < 0.5:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.sock.close()


def test_mmp_clients_dying_at_random_offsets_leak_nothing(start_server) -> None:
    size = 30_000
    server = start_server("--max-bytes-per-address", "0", "--quota", str(size))
    body = b'{"op":"compress"}'
    message = header64(len(body), 3, size) + body + b"mp4" + fake_mp4(size)
    rng = random.Random(7)
    for trial in range(TRIALS):
        client = SpecClient(server.host, server.port, source=f"127.0.5.{trial % 200 + 1}")
        client.send_bytes(message[: rng.randrange(len(message))])
        die(client, rng)
        assert wait_for(lambda: storage_leftovers(server) == [], 5), f"trial {trial}"

    # Zero leaked reservations: exactly the quota's worth is accepted now.
    def accepted() -> bool:
        answer = SpecClient(server.host, server.port, source="127.0.6.1").request(
            {"op": "compress"}, media_type="mp4", payload=fake_mp4(size)
        )
        return answer.doc.get("status") == "accepted"

    assert wait_for(accepted, 10)


def test_raw_clients_dying_at_random_offsets_leak_nothing(start_server) -> None:
    size = 30_000
    server = start_server("--max-bytes-per-address", "0", "--quota", str(size))
    message = prefix(size) + fake_mp4(size)
    rng = random.Random(11)
    for trial in range(TRIALS):
        client = RawClient(server.host, server.raw_port)
        try:
            client.send(message[: rng.randrange(len(message))])
        except BrokenPipeError:
            raise AssertionError(f"trial {trial}: refused with {client.status()!r}") from None
        die(client, rng)
        assert wait_for(lambda: storage_leftovers(server) == [], 5), f"trial {trial}"
    assert wait_for(
        lambda: upload(server.host, server.raw_port, fake_mp4(size)) == b"200 stored     \n", 10
    )


def test_peers_that_reset_right_after_connecting_never_take_the_server_down(
    server: ServerProcess,
) -> None:
    """A reset that lands between accept() and getpeername() once crashed the server."""
    for _ in range(5):
        batch = []
        for i in range(100):  # connected in a burst, then all reset at once
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.connect((server.host, server.raw_port if i % 2 else server.port))
            batch.append(s)
        for s in batch:
            s.close()
        time.sleep(0.2)
    assert server.proc is not None and server.proc.poll() is None, "".join(server.log)
    answer = SpecClient(server.host, server.port).request({"op": "status", "job_id": "0" * 32})
    assert answer.doc["error"]["code"] == "job_not_found"
    assert upload(server.host, server.raw_port, fake_mp4(1000)) == b"200 stored     \n"


def test_sigkill_mid_upload_and_mid_job_then_restart(
    start_server, clip_mp4: Path, slow_clip: Path, tmp_path: Path
) -> None:
    server = start_server("--max-jobs", "1", storage_dir=tmp_path / "kept")
    host, port = server.host, server.port
    # A: done, not downloaded.  B: running.  C: MMP upload half sent.  D: raw half sent.
    # E: a raw upload stored before the crash.
    done_id = (
        SpecClient(host, port)
        .request({"op": "compress"}, media_type="mp4", payload=clip_mp4.read_bytes())
        .doc["job_id"]
    )
    assert poll_until_done(server, done_id)["state"] == "done"
    running_id = (
        SpecClient(host, port, source="127.0.0.2")
        .request({"op": "compress"}, media_type="mp4", payload=slow_clip.read_bytes())
        .doc["job_id"]
    )

    def encoding() -> bool:
        status = SpecClient(host, port).request({"op": "status", "job_id": running_id}).doc
        return status["state"] == "running" and status["progress"] > 0

    assert wait_for(encoding, 60)
    assert upload(host, server.raw_port, fake_mp4(5000)) == b"200 stored     \n"
    data = clip_mp4.read_bytes()
    half_mmp = SpecClient(host, port, source="127.0.0.3")
    body = b'{"op":"compress"}'
    half_mmp.send_bytes(header64(len(body), 3, len(data)) + body + b"mp4" + data[: len(data) // 2])
    half_raw = RawClient(host, server.raw_port)
    half_raw.send(prefix(len(data)) + data[: len(data) // 2])
    partials = lambda: list(server.storage_dir.rglob(".*.part"))  # noqa: E731
    # Partial files of C, D and B's result exist at the moment of the crash.
    assert wait_for(lambda: len(partials()) >= 3, 10), partials()

    kill_with_children(server)
    half_mmp.close()
    half_raw.close()
    assert len(partials()) >= 3
    # The operator moves the storage to another disk before starting again.
    server.storage_dir = server.storage_dir.rename(tmp_path / "moved")
    server.start()

    assert partials() == []
    # B's input stays: B was queued again and runs now (it was started once: 2 of 3).
    assert [p.name for p in (server.storage_dir / "uploads").iterdir()] == [running_id]
    assert len(list((server.storage_dir / "raw").iterdir())) == 1  # E kept, D gone
    resumed = poll_until_done(server, running_id)
    assert resumed["state"] == "done", resumed
    assert resumed["result"]["output_size"] > 0
    got = SpecClient(host, server.port).request({"op": "download", "job_id": done_id})
    assert got.doc["status"] == "ok" and len(got.payload) == got.doc["size"] > 0
    got = SpecClient(host, server.port).request({"op": "download", "job_id": running_id})
    assert got.doc["status"] == "ok" and len(got.payload) == got.doc["size"] > 0
    kept = sorted((server.storage_dir / "raw").iterdir())
    # A's and B's results went once sent; E stays, its file and its row.
    rest = [str(p) for p in kept] + [f"raw upload raw/{p.name}" for p in kept]
    assert wait_for(lambda: storage_leftovers(server) == rest), storage_leftovers(server)


def test_a_job_that_stops_its_server_each_time_fails_after_three_runs(
    start_server, slow_clip: Path, tmp_path: Path
) -> None:
    """A file that kills the server (here: SIGKILL while it runs) is not run forever: the
    third restart during it ends it as `retries_exhausted`, its input deleted."""
    server = start_server("--max-jobs", "1", storage_dir=tmp_path / "kept")
    job_id = (
        SpecClient(server.host, server.port)
        .request({"op": "compress"}, media_type="mp4", payload=slow_clip.read_bytes())
        .doc["job_id"]
    )

    def status() -> dict:
        return SpecClient(server.host, server.port).request({"op": "status", "job_id": job_id}).doc

    for _ in range(3):
        assert wait_for(lambda: status()["state"] == "running", 60), status()
        kill_with_children(server)
        server.start()
    final = SpecClient(server.host, server.port).request({"op": "status", "job_id": job_id}).doc
    assert final["state"] == "failed", final
    assert final["error"]["code"] == "retries_exhausted"
    assert list((server.storage_dir / "uploads").iterdir()) == []


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 3 MiB tmpfs: a real ENOSPC, not our quota."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs (mount -t tmpfs needs root / CAP_SYS_ADMIN): {exc}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=10)


def test_a_really_full_disk_is_refused_cleanly(start_server, tiny_disk: Path) -> None:
    server = start_server(
        "--max-bytes-per-address", "0", "--quota", "1GB", storage_dir=tiny_disk / "storage"
    )
    # More than the file system holds, by little: after ENOSPC the client still sends the
    # rest in 1,400-byte units, and on a loaded machine 1 MiB more once seems to have
    # outlasted the server's 2 s linger (the raw status came back empty).
    size = 3 * 1024 * 1024 + 256 * 1024
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=fake_mp4(size)
    )
    assert answer.doc["error"]["code"] == "disk_full", answer.doc
    assert wait_for(lambda: storage_leftovers(server) == [])
    assert upload(server.host, server.raw_port, fake_mp4(size)) == b"507 disk full  \n"
    assert wait_for(lambda: storage_leftovers(server) == [])
    # The space came back and the server still works.
    ok = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=fake_mp4(100_000)
    )
    assert ok.doc["status"] == "accepted"
    assert server.proc is not None and server.proc.poll() is None


def ffmpeg_wrapper(tmp_path: Path, name: str, fault: str) -> Path:
    """A stand-in FFmpeg for fault injection: `fault` runs for jobs (an `-i` input);
    the server's start-up questions (`-muxers`, ...) go to the real FFmpeg, which also
    stays the normal path everywhere else."""
    script = tmp_path / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, signal, sys, time\n"
        f"REAL = {find_ffmpeg()!r}\n"
        "if '-i' in sys.argv:\n"
        + "".join(f"    {line}\n" for line in fault.splitlines())
        + "os.execv(REAL, [REAL, *sys.argv[1:]])\n"
    )
    script.chmod(0o755)
    return script


def run_one_job(server: ServerProcess, clip: Path) -> dict:
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress"}, media_type="mp4", payload=clip.read_bytes()
    )
    return poll_until_done(server, answer.doc["job_id"], timeout_s=60)


def test_a_hanging_ffmpeg_fails_the_job_at_the_job_timeout(
    start_server, clip_mp4: Path, tmp_path: Path
) -> None:
    hang = ffmpeg_wrapper(tmp_path, "ffmpeg-hang", "time.sleep(3600)")
    server = start_server("--ffmpeg", str(hang), "--job-timeout", "2")
    status = run_one_job(server, clip_mp4)
    assert status["state"] == "failed"
    assert status["error"]["code"] == "timeout"
    assert "--job-timeout" in status["error"]["solution"]
    assert wait_for(lambda: storage_leftovers(server) == [])
    assert wait_for(lambda: not _processes_running(hang))


def test_a_crashing_ffmpeg_fails_the_job_and_leaves_nothing(
    start_server, clip_mp4: Path, tmp_path: Path
) -> None:
    # Writes part of an output file, then dies of a segfault.
    crash = ffmpeg_wrapper(
        tmp_path,
        "ffmpeg-crash",
        "open(sys.argv[-1], 'wb').write(b'half an mp4')\nos.kill(os.getpid(), signal.SIGSEGV)",
    )
    server = start_server("--ffmpeg", str(crash))
    status = run_one_job(server, clip_mp4)
    assert status["state"] == "failed"
    assert status["error"]["code"] == "ffmpeg_failed"
    assert "SIGSEGV" in status["error"]["description"]
    assert wait_for(lambda: storage_leftovers(server) == [])
    # The address is free for its next job.
    assert (
        SpecClient(server.host, server.port)
        .request({"op": "compress"}, media_type="mp4", payload=clip_mp4.read_bytes())
        .doc["status"]
        == "accepted"
    )


def _processes_running(script: Path) -> bool:
    """Is the wrapper still running (as `python SCRIPT ...`; the server's own command line
    names it too, after --ffmpeg)?"""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == str(script).encode():
            return True
    return False
