"""Pilot: the op form takes the values it used to refuse though the server takes them —
ratio 2.39:1, times as 00:01:02.5, start/end left out, every MP3 bit rate, any muxer
name — typed (or picked) with keys, and sends them as the request's parameters."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Select

from app.client.address import ServerAddress
from app.protocol.ops import UPLOAD_OPS
from app.tui.app import VcsTui
from app.tui.jobs import Step
from app.tui.screens.operation import OperationScreen, ParamRow
from tests.media_files import probe
from tests.server_process import ServerProcess
from tests.tui.pilot_steps import (
    app_of,
    choose_op,
    fill,
    only_job,
    open_form,
    wait_for_step,
)
from tests.tui.test_round_trips import download_to

# Nothing listens on port 9: these tests look only at what the form sends.
NOWHERE = ServerAddress("127.0.0.1", 9)


async def pick(pilot: Pilot[None], form: OperationScreen, field: str, value: str) -> None:
    """Open a select with enter, walk down to `value`, take it with enter."""
    select = form.query_one(f"#param-{field}", Select)
    choices = list(UPLOAD_OPS[form.op].field(field).choices)
    select.focus()
    # The blank entry (the server's default) comes first in an optional select.
    await pilot.press("enter", *["down"] * (choices.index(value) + 1), "enter")
    assert select.value == value


async def submitted(pilot: Pilot[None], form: OperationScreen) -> dict[str, object]:
    assert form.check().ok, form.check().errors
    assert not any(row.has_class("-invalid") for row in form.query(ParamRow))
    await pilot.press("ctrl+s")
    assert app_of(pilot).screen is not form  # the form closed: the job was queued
    return app_of(pilot).runner.jobs[-1].params


TYPED: list[tuple[str, dict[str, str], dict[str, object]]] = [
    ("aspect", {"ratio": "2.39:1"}, {"ratio": "2.39:1"}),
    ("gif", {"start": "00:00:01.5"}, {"start": "00:00:01.5"}),  # end: the server's
    ("gif", {}, {}),  # start and end: the server's defaults
    ("webm", {"end": "0:03"}, {"end": "0:03"}),
    ("convert", {"format": "mxf_d10"}, {"format": "mxf_d10"}),
    ("convert", {"format": "asf_stream"}, {"format": "asf_stream"}),
]


@pytest.mark.asyncio
async def test_typed_values_the_server_takes(videos: Path) -> None:
    app = VcsTui(NOWHERE, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        for op, typed, params in TYPED:
            app.settings.op_defaults.clear()  # each form opens with empty fields
            app.main.files.focus()
            form = await open_form(pilot, "clip.mp4")  # probed: 4 s
            await choose_op(pilot, form, op)
            for name, text in typed.items():
                await fill(pilot, form, name, text)
            assert await submitted(pilot, form) == params, (op, typed)


@pytest.mark.asyncio
async def test_mp3_bit_rates_the_form_lacked_can_be_picked(videos: Path) -> None:
    # The select offers all 14 rates of MPEG-1 Layer III, as the server takes them
    # (test_op_agreement.py compares the two sets); the old form had 7. Picked by keys:
    # the lowest, one it lacked in the middle, the highest.
    assert len(UPLOAD_OPS["audio"].field("bitrate").choices) == 14
    app = VcsTui(NOWHERE, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        for bitrate in ("32k", "224k", "320k"):
            app.settings.op_defaults.clear()  # each form opens with a blank select
            app.main.files.focus()
            form = await open_form(pilot, "clip.mp4")
            await choose_op(pilot, form, "audio")
            await pick(pilot, form, "bitrate", bitrate)
            assert await submitted(pilot, form) == {"bitrate": bitrate}


@pytest.mark.asyncio
async def test_a_wide_ratio_and_an_open_ended_range_run_on_the_server(
    server: ServerProcess, videos: Path, home: Path
) -> None:
    (home / "out").mkdir()
    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, "clip.mp4")
        await choose_op(pilot, form, "aspect")
        await fill(pilot, form, "ratio", "2.39:1")
        await pilot.press("ctrl+s")
        job = only_job(pilot)
        await wait_for_step(pilot, job, Step.DONE, Step.FAILED)
        assert job.step is Step.DONE, job.error
        saved = await download_to(pilot, "~/out")
    info = probe(saved)
    assert info["dar"] is not None
    assert abs(Fraction(str(info["dar"]).replace(":", "/")) - Fraction(239, 100)) < Fraction(1, 50)

    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, "clip.mp4")
        await choose_op(pilot, form, "gif")
        await fill(pilot, form, "start", "00:00:02.5")  # and no end: to the clip's end
        await pilot.press("ctrl+s")
        job = only_job(pilot)
        await wait_for_step(pilot, job, Step.DONE, Step.FAILED)
        assert job.step is Step.DONE, job.error
        gif = await download_to(pilot, "~/out")
    assert probe(gif)["format"] == "gif"
    assert 1.0 <= float(str(probe(gif)["duration_s"])) <= 1.7  # 2.5 s .. 4 s
