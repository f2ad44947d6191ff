"""The op form checks as you type and sends nothing invalid; server refusals are shown
with their solution."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Label

from app.client.address import ServerAddress
from app.protocol import ErrorCode
from app.tui.app import VcsTui
from app.tui.jobs import Step
from app.tui.screens.operation import OperationScreen, ParamRow
from tests.server_process import ServerProcess
from tests.tui.pilot_steps import (
    fill,
    gif_form,
    notifications,
    only_job,
    open_form,
    wait_for_step,
    wait_until,
)


def hint(form: OperationScreen, field: str) -> str:
    return str(form.query_one(f"#row-{field}", ParamRow).query_one(".param-hint", Label).content)


@pytest.mark.asyncio
async def test_an_invalid_range_is_shown_and_nothing_is_sent(
    server: ServerProcess, videos: Path
) -> None:
    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await gif_form(pilot, "3", "2")
        assert hint(form, "end") == "must be after start"  # as typed, before any submit
        await fill(pilot, form, "end", "9")
        row = form.query_one("#row-end", ParamRow)
        assert row.has_class("-invalid")
        assert "clip's length, 4" in hint(form, "end")  # the probed length, 4 s
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form  # the form stays open
        assert any("end: must be ≤ the clip's length" in n for n in notifications(pilot))
        assert app.runner.jobs == []  # no upload was queued
        await fill(pilot, form, "end", "3.5")
        assert not row.has_class("-invalid")
    assert server.files() == []


@pytest.mark.asyncio
async def test_a_refusal_shows_the_servers_solution(
    start_server: Callable[..., ServerProcess], videos: Path
) -> None:
    server = start_server(
        "--max-bytes-per-address", "0", "--quota", "1000"
    )  # smaller than the clip
    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot, "clip.mp4")
        await pilot.press("ctrl+s")
        job = only_job(pilot)
        await wait_for_step(pilot, job, Step.FAILED, Step.DONE)
        assert job.error is not None and job.error.code is ErrorCode.QUOTA_EXCEEDED
        solution = job.error.solution
        assert solution
        await wait_until(
            pilot, lambda: any(solution in n for n in notifications(pilot)), "the notification"
        )
        assert any("quota_exceeded" in n for n in notifications(pilot))
        row = app.main.jobs.get_row
        await wait_until(pilot, lambda: str(row(job.key)[2]) == "failed", "the row")
    assert server.files() == []


@pytest.mark.asyncio
async def test_an_unreachable_server_is_a_notification_not_a_crash(videos: Path) -> None:
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        app = VcsTui(ServerAddress("127.0.0.1", sock.getsockname()[1]), folder=videos)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_form(pilot, "clip.mp4")
            await pilot.press("ctrl+s")
            job = only_job(pilot)
            await wait_for_step(pilot, job, Step.FAILED)
            assert job.error is not None and "Cannot connect" in job.error.description
            assert any(job.error.solution in n for n in notifications(pilot))
