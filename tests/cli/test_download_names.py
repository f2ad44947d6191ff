"""`vcs download` / `vcs OP` never overwrite a file, whatever name the server chose: a
taken name becomes `name (1).ext`, `--force` replaces, and the server's name is cut to a
safe base name. Against a scripted server (names a real one never sends) and a real one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.client.result_files import numbered
from app.protocol.ops import safe_base_name
from tests.cli.fake_server import Reply, fake_server
from tests.cli.test_cli import vcs
from tests.server_process import ServerProcess

JOB = "fedcba9876543210" * 2
RESULT = b"\x00result\x00" * 100
SHA = hashlib.sha256(RESULT).hexdigest()


def serving(filename: object) -> Callable[[dict[str, Any]], Reply]:
    status = {"job_id": JOB, "state": "done", "progress": 1, "result": {"size": len(RESULT)}}
    download = {"status": "ok", "job_id": JOB, "filename": filename, "size": len(RESULT)}

    def script(request: dict[str, Any]) -> Reply:
        if request["op"] == "status":
            return Reply(status)
        return Reply({**download, "sha256": SHA}, "mp4", RESULT)

    return script


def download(folder: Path, filename: object, *flags: str) -> tuple[int, str]:
    with fake_server(serving(filename)) as (address, _):
        result = vcs(
            "download", JOB, *flags, "--server", str(address), "--no-encryption", "-q", cwd=folder
        )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr


def test_a_name_already_taken_gets_a_number(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("all:\n\techo mine\n")
    for _ in range(2):
        code, err = download(tmp_path, "Makefile")
        assert code == 0, err
    assert (tmp_path / "Makefile").read_text() == "all:\n\techo mine\n"
    assert (tmp_path / "Makefile (1)").read_bytes() == RESULT
    assert (tmp_path / "Makefile (2)").read_bytes() == RESULT
    assert "Makefile (2)" in " ".join(err.split())  # it says where it went


def test_force_replaces_the_file(tmp_path: Path) -> None:
    (tmp_path / "clip.compress.mp4").write_text("old")
    code, err = download(tmp_path, "clip.compress.mp4", "--force")
    assert code == 0, err
    assert (tmp_path / "clip.compress.mp4").read_bytes() == RESULT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.compress.mp4"]


def test_an_existing_output_file_is_refused_before_anything_is_asked(tmp_path: Path) -> None:
    (tmp_path / "out.mp4").write_text("keep me")
    with fake_server(serving("x.mp4")) as (address, server):
        result = vcs("download", JOB, "-o", "out.mp4", "--server", str(address), cwd=tmp_path)
    assert result.returncode == 2 and "--force" in result.stderr
    assert server.requests == []
    assert (tmp_path / "out.mp4").read_text() == "keep me"


@pytest.mark.parametrize(
    ("offered", "saved"),
    [
        ("../../evil.sh", "evil.sh"),
        ("/etc/cron.d/job", "job"),
        ("..\\..\\boot.ini", "boot.ini"),
        (".bashrc", "bashrc"),
        ("..", f"{JOB}.mp4"),
        ("", f"{JOB}.mp4"),
        (None, f"{JOB}.mp4"),
        (["a.mp4"], f"{JOB}.mp4"),
        ("\x1b[31mred\x07.mp4", "[31mred.mp4"),
        ("a\u202eb.mp4", "ab.mp4"),
        ("é" * 300 + ".mp4", "é" * 98 + ".mp4"),
    ],
)
def test_the_servers_name_is_reduced_to_a_safe_base_name(
    offered: object, saved: str, tmp_path: Path
) -> None:
    folder = tmp_path / "here"
    folder.mkdir()
    code, err = download(folder, offered)
    assert code == 0, err
    assert [p.name for p in folder.iterdir()] == [saved]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]  # nothing beside it


def test_safe_names_fit_a_file_system() -> None:
    name = safe_base_name("x" * 1000 + ".mp4")
    assert name is not None and len(name.encode()) <= 200 and name.endswith(".mp4")
    assert len(numbered(Path(name), 999).name.encode()) < 255
    assert numbered(Path("clip.compress.mp4"), 3).name == "clip.compress (3).mp4"


def test_vcs_op_keeps_an_existing_result_name(
    server: ServerProcess, small_clips: dict[str, Path], tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(small_clips["mp4"].read_bytes())
    (tmp_path / "clip.gif.gif").write_text("an older gif")
    args = ("gif", str(clip), "--end", "1", "--width", "64", "--server", str(server.address))
    result = vcs(*args, "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "clip.gif.gif").read_text() == "an older gif"
    assert (tmp_path / "clip.gif (1).gif").stat().st_size > 0
    (tmp_path / "named.gif").write_text("mine")
    refused = vcs(*args, "-o", "named.gif", cwd=tmp_path)
    assert refused.returncode == 2 and "named.gif exists" in refused.stderr
    assert server.files() == []  # refused before the upload
    forced = vcs(*args, "-o", "named.gif", "--force", "-q", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "named.gif").read_bytes()[:3] == b"GIF"
