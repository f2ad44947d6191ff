"""The three consumers of the op table agree: for every upload op and every parameter,
the CLI (`vcs OP --flag TEXT`), the TUI's op form (the real screen, typed into) and the
server's static check (`check_params`) accept the same texts and send the same JSON.

Each side is driven through its own entry point, not through the table, so a rule
written by hand in one of them (a range, a shape, a list of choices) fails here.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList, Select

from app.cli.main import parse_args
from app.client.address import ServerAddress
from app.client.answers import JOB_STATES
from app.media.geometry import AspectMode
from app.media.probe import MediaInfo
from app.protocol import VcsError
from app.protocol.ops import UPLOAD_OPS, Choice, Field, Number
from app.protocol.ops.reference import markdown
from app.server.job import JobState
from app.server.ops import UPLOAD_OPS as SERVER_OPS
from app.server.ops.params import resolve_span
from app.tui.app import VcsTui
from app.tui.op_form import validate
from app.tui.screens.operation import OperationScreen
from tests.tui.pilot_steps import wait_until

# Texts people (and attackers) type, for every field; each field adds its own bounds.
TEXTS = [
    *["abc", "nan", "inf", "-inf", "true", "null", "[]", "{}", "0x10", "12,5", "١٢", "ｍｋｖ"],
    *["-1", "0", "0.0", "1", "1.5", ".5", "5.", "+5", "1e3", "1e-3", "1E400", "9" * 40],
    *["9" * 4000, "-" + "9" * 4000, "2", "12", "16", "17", "30", "31", "59.999", "60"],
    *["61", "99", "100", "1280", "1281", "7680", "7682", "640", "641", "3600", "360000"],
    *["00:01:02.5", "1:02.5", "1:75", "00:61:00", "61:00", "1:00:00.001", "00:00:12.500"],
    *["1:02.5000001", "12.5.5", " 3 ", "2.39:1", "16:9", "16/9", "0:9", "100:1", "1:10"],
    *["10:1", "10.001:1", "4:3:2", "mkv", "MKV", ".mkv", "mxf_d10", "m p4", "-y", "../x"],
    *["a" * 33, "h264", "192k", "192K", "192kbps", "192", "193", "pad", "720p", "$(id)"],
]
# Values of the fields that are selects in the TUI, and what a server might take too:
# every MP3 rate, its neighbours and other round numbers, bare and with a "k".
_RATES = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320]
_KBPS = sorted({k + d for k in _RATES for d in (-1, 0, 1)} | {0, 100, 200, 384, 448, 999})
CANDIDATES = [
    *["", "x", "none", "auto", "4k", "240p", "360p", "480", "vp9", "xvid", "zoom", "fit"],
    *[str(k) for k in _KBPS],
    *[f"{k}k" for k in _KBPS],
]
# Values the other fields of an op need for a request to pass (required fields).
BASE = {"aspect": {"ratio": "16:9"}, "convert": {"format": "mkv"}}
# Fields that mean something only beside another (a flag about the preset).
FIELD_BASE = {("resize", "upscale"): {"preset": "720p"}}
# The server decides whether a well-shaped format name exists; these say it did.
MUXER_REFUSALS = ("cannot write the format", "animated image format")


def field_texts(field: Field) -> list[str]:
    texts = list(TEXTS)
    if isinstance(field, Number):
        for edge in (field.low, field.high):
            texts += [f"{edge:g}", f"{edge - 1:g}", f"{edge + 1:g}", f"{edge + 0.5:g}"]
    return [t for t in dict.fromkeys(texts) if t.strip()]


def cli_verdict(op: str, texts: dict[str, str]) -> dict[str, Any] | None:
    """The params `vcs OP` sends for these flag texts, or None for a usage error."""
    flags = [part for name, text in texts.items() for part in (f"--{name.replace('_', '-')}", text)]
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            args = parse_args([op, "clip.mp4", *flags])
        except SystemExit as exit_info:
            assert exit_info.code == 2
            return None
    params: dict[str, Any] = args.params
    return params


def server_check(op: str, doc: dict[str, Any]) -> dict[str, Any] | str:
    """What the server's static check makes of `doc`, or its refusal's description."""
    try:
        return SERVER_OPS[op].check_params({"op": op, **doc})
    except VcsError as exc:
        assert exc.code == "bad_params", exc.info
        return exc.info.description


def server_verdict(op: str, doc: dict[str, Any]) -> str | None:
    """None when the server's static check takes `doc`, else its refusal's description."""
    outcome = server_check(op, doc)
    return outcome if isinstance(outcome, str) else None


class Form:
    """The TUI's op form, typed into field by field (no probe: a non-video file)."""

    def __init__(self, screen: OperationScreen) -> None:
        self.screen = screen

    def verdict(self, texts: dict[str, str]) -> dict[str, Any] | None:
        for field in UPLOAD_OPS[self.screen.op].fields:
            widget = self.screen.query_one(f"#param-{field.name}")
            text = texts.get(field.name, "")
            if isinstance(widget, Select):
                widget.value = text if text else Select.NULL
            else:
                assert isinstance(widget, Input)
                widget.value = text
        result = self.screen.check()
        return result.params if result.ok else None

    def options(self, field: Field) -> list[str]:
        # The list a select drops down (an OptionList): what a user can pick.
        select = self.screen.query_one(f"#param-{field.name}", Select)
        overlay = select.query_one(OptionList)
        prompts = [str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)]
        return [p for p in prompts if p != str(select.prompt)]  # not the blank entry


async def open_form(pilot: Any, app: VcsTui, op: str, folder: Path) -> Form:
    screen = OperationScreen([folder / "notes.txt"], op, {})
    await app.push_screen(screen)
    await wait_until(pilot, lambda: screen.probes is not None, "the (failed) local probe")
    await pilot.pause()
    return Form(screen)


def check_text_field(form: Form, op: str, field: Field) -> None:
    base = BASE.get(op, {})
    for text in field_texts(field):
        texts = {**base, field.name: text}
        tui, cli = form.verdict(texts), cli_verdict(op, texts)
        sent = {**{k: f.from_text(v) for k, v in base.items() for f in [UPLOAD_OPS[op].field(k)]}}
        sent[field.name] = field.from_text(text)
        server = server_verdict(op, sent)
        where = f"{op} {field.name}={text[:20]!r}: tui={tui} cli={cli} server={server}"
        assert (tui is None) == (cli is None), where
        if tui is not None:
            assert tui == cli == sent, where
            if op == "convert" and server is not None:
                assert any(why in server for why in MUXER_REFUSALS), where
            else:
                assert server is None, where
        else:
            assert server is not None, where


def check_select_field(form: Form, op: str, field: Field) -> None:
    base = {**BASE.get(op, {}), **FIELD_BASE.get((op, field.name), {})}
    reachable = set()  # what the server makes of every value it takes (its own terms)
    for text in dict.fromkeys([*CANDIDATES, *field.choices, *(c.upper() for c in field.choices)]):
        if not text:
            continue
        cli = cli_verdict(op, {**base, field.name: text})
        server = server_check(op, {**base, field.name: field.from_text(text)})
        assert (cli is None) == isinstance(server, str), (op, field.name, text, server)
        if not isinstance(server, str):
            reachable.add(repr(sorted(server.items())))
    offered = set()  # ... and of every value the TUI's select offers
    for choice in form.options(field):
        params = form.verdict({**base, field.name: choice})
        assert params is not None, (op, field.name, choice)
        server = server_check(op, params)
        assert not isinstance(server, str), (op, field.name, choice, server)
        offered.add(repr(sorted(server.items())))
    assert offered == reachable, (op, field.name, sorted(reachable - offered))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a file the local probe cannot read: the form knows no duration."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    (tmp_path / "notes.txt").write_text("not a video\n")
    return tmp_path


@pytest.mark.parametrize("op", list(UPLOAD_OPS))
@pytest.mark.asyncio
async def test_cli_tui_and_server_accept_the_same_values(op: str, folder: Path) -> None:
    assert set(UPLOAD_OPS) == set(SERVER_OPS)
    app = VcsTui(ServerAddress("127.0.0.1", 9), folder=folder)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, op, folder)
        # Every parameter left out: all three agree (the server applies its defaults).
        empty = dict(BASE.get(op, {}))
        tui, cli = form.verdict(empty), cli_verdict(op, empty)
        server = server_verdict(
            op, {k: UPLOAD_OPS[op].field(k).from_text(v) for k, v in empty.items()}
        )
        assert (tui is None) == (cli is None) == (server is not None), (op, tui, cli, server)
        for field in UPLOAD_OPS[op].fields:
            if isinstance(field, Choice) or field.choices:
                check_select_field(form, op, field)
            else:
                check_text_field(form, op, field)


def test_the_tables_choices_are_the_media_codes() -> None:
    assert UPLOAD_OPS["aspect"].field("mode").choices == tuple(str(m) for m in AspectMode)


def test_docs_parameters_md_is_the_table() -> None:
    docs = Path(__file__).parent.parent / "docs" / "parameters.md"
    assert docs.read_text() == markdown(), (
        "docs/parameters.md is out of date: python -m app.protocol.ops.reference > "
        "docs/parameters.md"
    )


def test_the_client_knows_every_job_state_the_server_reports() -> None:
    assert tuple(str(state) for state in JobState) == JOB_STATES


@pytest.mark.parametrize("op", ["gif", "webm"])
@pytest.mark.parametrize(
    ("start", "end"),
    [("0", ""), ("1", ""), ("", "3"), ("2.5", "4"), ("3.999", ""), ("4", ""), ("0", "4.001")],
)
@pytest.mark.parametrize("duration_s", [4.0, 4.0004, 65.0, 120.0])
def test_the_form_fits_a_range_to_the_clip_as_the_server_does(
    op: str, start: str, end: str, duration_s: float
) -> None:
    result = validate(op, {"start": start, "end": end}, duration_s)
    params = SERVER_OPS[op].check_params(
        {"op": op, **validate(op, {"start": start, "end": end}).params}
    )
    info = MediaInfo("test", duration_s, 1000, None, None, None)
    try:
        resolve_span(params, info)
    except VcsError:
        assert not result.ok
    else:
        assert result.ok, result.errors


@pytest.mark.parametrize("op", list(UPLOAD_OPS))
def test_vcs_op_help_shows_each_fields_help_range_and_default(op: str, capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args([op, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in UPLOAD_OPS[op].fields:
        assert field.flag in text
        assert " ".join(field.help.split()) in text, field.name
        if field.range_text and not isinstance(field, Choice):
            assert field.range_text in text, field.name
        if field.default_shown and not field.required:
            assert f"default: {field.default_shown}" in text, field.name
