"""Batches (`vcs OP FILE... --recursive DIR`) against a real server: results, the error
row and the exit code, `--json` lines, results of earlier runs skipped, and Ctrl-C."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli.batch_inputs import BatchUsageError, is_result_name, plan_batch
from tests.cli.test_cli import vcs
from tests.support.media_files import probe
from tests.support.server_process import ServerProcess, wait_for
from tests.support.tamper_proxy import Action, Stall, TamperProxy, running_in_thread


@pytest.fixture
def three_files(tmp_path: Path, small_clips: dict[str, Path]) -> list[Path]:
    """Two clips and, between them, a file no FFmpeg can read."""
    folder = tmp_path / "in"
    folder.mkdir()
    first = folder / "first.mp4"
    shutil.copyfile(small_clips["mp4"], first)
    bad = folder / "bad.mp4"
    bad.write_bytes(b"this is not a video\n" * 50)
    last = folder / "last.mkv"
    shutil.copyfile(small_clips["mkv"], last)
    return [first, bad, last]


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_a_bad_file_is_an_error_row_and_the_others_get_results(
    server: ServerProcess, three_files: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"  # does not exist yet: made for the results
    args = ("resize", *map(str, three_files), "--width", "160", "-o", str(out))
    result = vcs(*args, "--server", str(server.address))
    assert result.returncode == 1, result.stderr
    saved = sorted(p.name for p in out.iterdir())
    # (The result's container is the server's choice: mp4, or mkv for what mp4 cannot hold.)
    assert [name.rsplit(".", 1)[0] for name in saved] == ["first.resize", "last.resize"]
    for name in saved:
        assert probe(out / name)["width"] == 160
    table = result.stderr[result.stderr.index("File ") :]
    rows: dict[str, str] = {}
    for line in table.splitlines():  # the table's row, not the error detail under it
        if line.split():
            rows.setdefault(line.split()[0], line)
    assert "done" in rows["first.mp4"] and "done" in rows["last.mkv"]
    assert "failed" in rows["bad.mp4"] and "unreadable_media" in rows["bad.mp4"]
    assert "3 files: 2 done, 1 failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_prints_one_line_per_file(
    server: ServerProcess, three_files: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ("resize", *map(str, three_files), "--width", "160", "-o", str(out), "--json")
    result = vcs(*args, "--server", str(server.address))
    assert result.returncode == 1, result.stderr
    lines = json_lines(result.stdout)
    assert [Path(line["file"]).name for line in lines] == ["first.mp4", "bad.mp4", "last.mkv"]
    assert [line["result"] for line in lines] == ["done", "failed", "done"]
    for line in (lines[0], lines[2]):
        assert Path(line["path"]).is_file() and Path(line["path"]).parent == out
        assert line["output_size"] == Path(line["path"]).stat().st_size
        assert line["input_size"] == Path(line["file"]).stat().st_size
        assert 0 < line["reduction"] < 1 and line["error"] is None
        assert line["report"]["width"] == 160
    assert lines[1]["path"] is None and lines[1]["error"]["code"] == "unreadable_media"
    assert lines[1]["error"]["solution"]


def test_recursive_runs_every_video_below_and_skips_earlier_results(
    server: ServerProcess, small_clips: dict[str, Path], tmp_path: Path
) -> None:
    library = tmp_path / "library"
    (library / "trip").mkdir(parents=True)
    shutil.copyfile(small_clips["mp4"], library / "a.mp4")
    shutil.copyfile(small_clips["mov"], library / "trip" / "b.MOV")
    shutil.copyfile(small_clips["mp4"], library / "a.resize.mp4")  # an earlier result
    (library / "notes.txt").write_text("not a video")
    result = vcs(
        "resize",
        "--recursive",
        str(library),
        "--height",
        "120",
        "--json",
        "--server",
        str(server.address),
    )
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert [Path(line["file"]).name for line in lines] == ["a.mp4", "b.MOV"]
    assert "skipping 1 result(s) of earlier runs (a.resize.mp4)" in result.stderr
    # Beside each input; the earlier result's name is taken, so the new one is numbered.
    assert Path(lines[0]["path"]) == library / "a.resize (1).mp4"
    assert Path(lines[1]["path"]).parent == library / "trip"
    assert probe(Path(lines[1]["path"]))["height"] == 120


def test_finding_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name in (
        "a.mp4",
        "B.MKV",
        "notes.txt",
        "a.compress.mp4",
        "a.resize (2).mp4",
        ".hidden.mp4",
        ".cache/c.mp4",
        "sub/d.webm",
        "sub/deeper/e.mov",
        "sub/d.convert.mkv",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x" * 10)
    named = tmp_path / "named.avi"
    named.write_bytes(b"x" * 7)

    plan = plan_batch([named], [root], None)
    assert [i.path.relative_to(tmp_path).as_posix() for i in plan.inputs] == [
        "named.avi",
        "root/B.MKV",
        "root/a.mp4",
        "root/sub/d.webm",
        "root/sub/deeper/e.mov",
    ]
    assert [i.result_folder for i in plan.inputs] == [
        None,
        root,
        root,
        root / "sub",
        root / "sub" / "deeper",
    ]
    assert sorted(p.name for p in plan.skipped_results) == [
        "a.compress.mp4",
        "a.resize (2).mp4",
        "d.convert.mkv",
    ]
    assert plan.total_bytes == 7 + 4 * 10

    out = tmp_path / "results"
    mirrored = plan_batch([], [root], out, include_results=True)
    assert len(mirrored.inputs) == 7 and not mirrored.skipped_results
    by_name = {i.path.name: i.result_folder for i in mirrored.inputs}
    assert by_name["e.mov"] == out / "sub" / "deeper" and by_name["a.mp4"] == out

    # A file named twice (or named and found) runs once.
    assert len(plan_batch([root / "a.mp4", root / "a.mp4"], [root], None).inputs) == 4


def test_result_names() -> None:
    assert is_result_name("clip.compress.mp4")
    assert is_result_name("clip.gif.gif") and is_result_name("clip.audio.mp3")
    assert is_result_name("clip.convert (12).mkv")
    assert not is_result_name("compress.mp4")
    assert not is_result_name("clip.mp4") and not is_result_name("my.compressed.mp4")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("output-is-a-file", "is a file; with several files -o names a folder"),
        ("output-looks-like-a-file", "looks like a file name"),
        ("missing", "missing.mp4 is not a file"),
        ("folder", "is a folder; use --recursive"),
    ],
)
def test_batch_usage_errors(setup: str, message: str, tmp_path: Path) -> None:
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    files, output = [clip, clip], None
    if setup == "output-is-a-file":
        output = tmp_path / "taken.mp4"
        output.write_bytes(b"x")
    elif setup == "output-looks-like-a-file":
        output = tmp_path / "new.mp4"
    elif setup == "missing":
        files = [clip, tmp_path / "missing.mp4"]
    else:
        files = [clip, tmp_path]
    with pytest.raises(BatchUsageError, match=message):
        plan_batch(files, [], output)
    argv = ["compress", *map(str, files), *(["-o", str(output)] if output else [])]
    result = vcs(*argv, "--server", "127.0.0.1:9")  # refused before any connection
    assert result.returncode == 2, result.stderr
    assert message.split(";")[0].split()[-1] in result.stderr


def test_a_batch_cannot_be_sent_without_waiting(tmp_path: Path) -> None:
    result = vcs("compress", "a.mp4", "b.mp4", "--no-wait")
    assert result.returncode == 2
    assert "--no-wait sends a single file" in result.stderr


def start_vcs(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout, stderr


def stall_in_a_payload(big_units: int = 2) -> Action:
    """Pass the server's bytes until `big_units` large records went by (a download's head
    and first payload: answers to other requests are small), then pass nothing more."""
    passed = 0

    def action(index: int, unit: bytes) -> list[bytes]:
        nonlocal passed
        if passed >= big_units:
            raise Stall
        passed += len(unit) > 4096
        return [unit]

    return action


def test_ctrl_c_during_a_download_leaves_no_partial_file(
    server: ServerProcess, clip_mp4: Path, tmp_path: Path
) -> None:
    """The download stalls (a proxy stops passing the server's bytes once the payload has
    begun); Ctrl-C then: no partial file, exit 130, and the result is still on the server
    as the note says."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("one.mp4", "two.mp4"):
        shutil.copyfile(clip_mp4, inputs / name)
    out = tmp_path / "out"
    proxy = TamperProxy((server.host, server.port), server_to_client=stall_in_a_payload())
    with running_in_thread(proxy) as port:
        files = [str(inputs / "one.mp4"), str(inputs / "two.mp4")]
        args = ("convert", *files, "--format", "mkv", "-o", str(out), "--json")
        proc = start_vcs(*args, "--server", f"127.0.0.1:{port}")
        try:
            partial = lambda: list(out.glob(".*.part")) if out.is_dir() else []  # noqa: E731
            assert wait_for(lambda: bool(partial()), timeout_s=120), "no download started"
            code, stdout, stderr = interrupt(proc)
        finally:
            proc.kill()
            proc.wait()
    assert code == 130, stderr
    assert list(out.iterdir()) == []  # neither the partial file nor a result
    interrupted, not_run = json_lines(stdout)
    assert interrupted["result"] == "interrupted" and interrupted["path"] is None
    assert not_run["result"] == "not_run" and Path(not_run["file"]).name == "two.mp4"
    job_id = interrupted["job_id"]
    assert f"vcs download {job_id}" in interrupted["note"]
    got = vcs("download", job_id, "-o", str(out), "-q", "--server", str(server.address))
    assert got.returncode == 0, got.stderr
    assert [p.name for p in out.iterdir()] == ["one.convert.mkv"]


def job_ids(server: ServerProcess) -> list[str]:
    """Jobs the server has admitted (its job store holds each from admission on)."""
    return [job_id for job_id, _ in server.job_rows()]


def job_row(server: ServerProcess, job_id: str) -> dict[str, object]:
    """The job as the server's store has it: `vcs` made it over its own encrypted session,
    so this test's client may not ask for it."""
    return server.job_row(job_id) or {}


def test_ctrl_c_while_the_server_works_cancels_the_job(
    server: ServerProcess, slow_clip: Path, clip_mp4: Path, tmp_path: Path
) -> None:
    """Interrupted while its job runs, a batch cancels it: the address's one job slot is
    free again and nothing is downloaded."""
    out = tmp_path / "out"
    addr = str(server.address)
    proc = start_vcs("compress", str(slow_clip), str(clip_mp4), "-o", str(out), "--server", addr)
    try:
        assert wait_for(lambda: bool(job_ids(server)), timeout_s=120), "no job admitted"
        (job_id,) = job_ids(server)

        def encoding() -> bool:
            progress = job_row(server, job_id).get("progress")
            return isinstance(progress, float) and progress > 0

        assert wait_for(encoding, timeout_s=120), "the job did not start"
        code, _, stderr = interrupt(proc)
    finally:
        proc.kill()
        proc.wait()
    assert code == 130, stderr
    assert "cancelled on the server" in stderr
    assert "2 files: 1 interrupted, 1 not run" in stderr
    assert job_row(server, job_id)["state"] == "cancelled"
    assert not out.exists()
