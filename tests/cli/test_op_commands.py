"""`vcs OP` for every upload op: flags → op parameters, help, round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.cli.main import main, parse_args
from tests.cli.test_cli import vcs
from tests.media_files import probe
from tests.server_process import ServerProcess

MEDIA_OPS = ("resize", "aspect", "audio", "gif", "webm", "convert")


@pytest.mark.parametrize(
    ("argv", "params"),
    [
        (["resize", "--width", "1280"], {"width": 1280}),
        (["resize", "--preset", "720p"], {"preset": "720p"}),
        (["aspect", "--ratio", "16:9"], {"ratio": "16:9"}),
        (["aspect", "--ratio", "4:3", "--mode", "crop"], {"ratio": "4:3", "mode": "crop"}),
        (["audio"], {}),
        (["audio", "--bitrate", "192k"], {"bitrate": "192k"}),
        (["audio", "--bitrate", "224"], {"bitrate": 224}),
        (["aspect", "--ratio", "2.39:1"], {"ratio": "2.39:1"}),
        (
            ["compress", "--codec", "AV1", "--target-vmaf", "90"],
            {"codec": "AV1", "target_vmaf": 90},
        ),
        (["gif", "--start", "3", "--end", "6"], {"start": 3.0, "end": 6.0}),
        (
            ["gif", "--start", "00:01:02.500", "--end", "1:10", "--fps", "10", "--width", "320"],
            {"start": "00:01:02.500", "end": "1:10", "fps": 10.0, "width": 320},
        ),
        (["webm", "--end", "2.5", "--width", "640"], {"end": 2.5, "width": 640}),
        (["convert", "--format", "mkv"], {"format": "mkv"}),
    ],
)
def test_flags_become_the_ops_parameters(argv: list[str], params: dict[str, Any]) -> None:
    args = parse_args([argv[0], "clip.mp4", *argv[1:]])
    assert args.params == params


@pytest.mark.parametrize(
    "argv",
    [
        ["resize", "--width", "1280; rm -rf /"],
        ["resize", "--preset", "4k"],
        ["aspect"],  # --ratio is required
        ["aspect", "--ratio", "16:9", "--mode", "zoom"],
        ["audio", "--bitrate", "loud"],
        ["gif", "--start", "-1"],
        ["gif", "--end", "soon"],
        ["gif", "--fps", "nan"],
        ["convert"],  # --format is required
        ["convert", "--format", "m p4"],
        ["resize"],  # a width, a height or a preset: a rule between flags
        ["resize", "--width", "640", "--preset", "720p"],
        ["gif", "--start", "3", "--end", "2"],
        ["gif", "--start", "0", "--end", "61"],
        ["webm", "--start", "9" * 4000],
    ],
)
def test_typos_are_usage_errors(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args([argv[0], "clip.mp4", *argv[1:]])
    assert exit_info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def help_of(*argv: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_top_level_help_lists_every_op(capsys) -> None:
    text = help_of(capsys=capsys)
    for op in ("compress", *MEDIA_OPS):
        assert f"    {op} " in text


@pytest.mark.parametrize(
    ("op", "phrases"),
    [
        ("resize", ["--width", "--height", "--preset", "even, 16..7680", "portrait"]),
        ("aspect", ["--ratio", "W:H", "--mode", "letterbox", "crop", "stretch"]),
        ("audio", ["--bitrate", "kbit/s", "no_audio"]),
        ("gif", ["--start", "--end", "--fps", "--width", "[HH:]MM:SS", "60 s"]),
        ("webm", ["--start", "--end", "--width", "VP9", "Opus"]),
        ("convert", ["--format", "mkv", "copied", "re-encoded"]),
    ],
)
def test_each_subcommand_explains_its_parameters(op: str, phrases: list[str], capsys) -> None:
    text = " ".join(help_of(op, capsys=capsys).split())  # argparse wraps lines
    for phrase in phrases:
        assert phrase in text, phrase


def test_vcs_gif_round_trip(server: ServerProcess, small_clips, tmp_path: Path) -> None:
    out = tmp_path / "clip.gif"
    result = vcs(
        "gif",
        str(small_clips["mp4"]),
        "--start",
        "0.5",
        "--end",
        "1.5",
        "--width",
        "160",
        "--server",
        str(server.address),
        "-o",
        str(out),
        "-q",
    )
    assert result.returncode == 0, result.stderr
    got = probe(out)
    assert (got["video_codec"], got["width"], got["height"]) == ("gif", 160, 120)
    assert "160x120" in result.stderr  # the report names the size made


def test_vcs_convert_to_an_unknown_format_is_refused_with_suggestions(
    server: ServerProcess, small_clips
) -> None:
    result = vcs(
        "convert", str(small_clips["mp4"]), "--format", "mkvv", "--server", str(server.address)
    )
    assert result.returncode == 3
    assert "bad_params" in result.stderr and "mkv" in result.stderr
