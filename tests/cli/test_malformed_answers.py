"""`vcs` against a server that answers oddly (tests/cli/fake_server.py): every malformed
answer is a clear error with exit 4 (3 for a refusal), never a traceback, never a file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.cli.fake_server import Reply, fake_server
from tests.cli.test_cli import vcs

JOB = "0123456789abcdef" * 2
RESULT = b"the result's bytes" * 10
SHA = hashlib.sha256(RESULT).hexdigest()
STATUS_DONE = {
    "job_id": JOB,
    "op": "compress",
    "state": "done",
    "progress": 1.0,
    "eta_s": None,
    "result": {"filename": "clip.compress.mp4", "size": len(RESULT), "sha256": SHA},
}
DOWNLOAD = {"status": "ok", "job_id": JOB, "filename": "clip.compress.mp4", "size": len(RESULT)}


def answering(**by_op: Reply) -> Any:
    return lambda request: by_op[request["op"]]


def run(script: Any, *argv: str, cwd: Path) -> tuple[int, str]:
    with fake_server(script) as (address, _):
        result = vcs(*argv, "--server", str(address), "--no-encryption", "-q", cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (Reply(STATUS_DONE, "mp4", b"x" * 10), "carries a payload of 10 bytes"),
        ({**STATUS_DONE, "progress": "half"}, "'progress' that is not a number"),
        ({**STATUS_DONE, "progress": 7}, "'progress' that is not a number in 0..1"),
        ({**STATUS_DONE, "state": 5}, "no known job state"),
        ({**STATUS_DONE, "eta_s": [1]}, "'eta_s'"),
        ({**STATUS_DONE, "result": "done"}, "'result' that is not an object"),
        ({**STATUS_DONE, "job_id": None}, "no job id"),
        ({"error": "oops"}, "no job id"),  # an error field that is no error object
        ({**STATUS_DONE, "eta_s": 10**300, "state": "running"}, None),  # odd, but readable
    ],
)
def test_a_malformed_status_answer_exits_4(status: Any, why: str | None, tmp_path: Path) -> None:
    reply = status if isinstance(status, Reply) else Reply(status)
    code, err = run(answering(status=reply), "status", JOB, cwd=tmp_path)
    if why is None:
        assert code == 0, err
        return
    assert code == 4, err
    assert why in err and "nothing was done with it" in err


@pytest.mark.parametrize(
    ("download", "why"),
    [
        (Reply({k: v for k, v in DOWNLOAD.items()}, "mp4", RESULT), "no 'sha256'"),
        (Reply({**DOWNLOAD, "sha256": SHA, "size": None}, "mp4", RESULT), "no 'size'"),
        (Reply({**DOWNLOAD, "sha256": SHA, "size": 5}, "mp4", RESULT), "no 'size' matching"),
        (Reply({**DOWNLOAD, "sha256": SHA, "size": True}, "mp4", RESULT), "no 'size'"),
        (Reply({**DOWNLOAD, "sha256": 12}, "mp4", RESULT), "no 'sha256'"),
        (Reply({**DOWNLOAD, "sha256": "0" * 64}, "mp4", RESULT), "SHA-256 differs"),
        (Reply({**DOWNLOAD, "sha256": SHA, "report": [1]}, "mp4", RESULT), "'report'"),
        (Reply({**DOWNLOAD, "sha256": SHA}), "without a file"),
    ],
)
def test_a_malformed_download_writes_nothing(download: Reply, why: str, tmp_path: Path) -> None:
    code, err = run(
        answering(status=Reply(STATUS_DONE), download=download), "download", JOB, cwd=tmp_path
    )
    assert code == 4, err
    assert why in err
    assert list(tmp_path.iterdir()) == []  # no file, no partial


def test_an_accepted_answer_without_a_job_id_exits_4(tmp_path: Path, clip_mp4: Path) -> None:
    reply = Reply({"status": "accepted", "op": "compress"})
    code, err = run(answering(compress=reply), "compress", str(clip_mp4), cwd=tmp_path)
    assert code == 4 and "no job id" in err, err


def test_a_refusal_with_markup_is_printed_as_text(tmp_path: Path) -> None:
    error = {"code": "[/]bad_params", "description": "[bold]x[/] [/]", "solution": "[/red]"}
    code, err = run(answering(cancel=Reply({"error": error})), "cancel", JOB, cwd=tmp_path)
    assert code == 3, err
    assert "[bold]x[/] [/]" in err and "[/red]" in err


def test_an_odd_report_is_shown_as_far_as_it_makes_sense(tmp_path: Path) -> None:
    report = {"streams": 5, "reduction": "a lot", "codec": "[bold]h264[/", "width": [1]}
    download = Reply({**DOWNLOAD, "sha256": SHA, "report": report}, "mp4", RESULT)
    code, err = run(
        answering(status=Reply(STATUS_DONE), download=download), "download", JOB, cwd=tmp_path
    )
    assert code == 0, err
    assert "codec [bold]h264[/" in err
    assert (tmp_path / "clip.compress.mp4").read_bytes() == RESULT
