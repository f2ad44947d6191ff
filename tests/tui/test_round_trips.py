"""Pilot drives the TUI against a real vcs-serve: pick a clip, run an op, download."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from app.server.ops import UPLOAD_OPS
from app.tui.app import VcsTui
from app.tui.jobs import Step
from app.tui.screens.dialogs import FolderScreen
from tests.media_files import probe
from tests.server_process import ServerProcess
from tests.tui.pilot_steps import (
    app_of,
    gif_form,
    only_job,
    open_form,
    wait_for_step,
    wait_until,
)


async def download_to(pilot: Pilot[None], typed_folder: str) -> Path:
    """Press d on the selected job, type the folder, wait for the file."""
    app = app_of(pilot)
    job = only_job(pilot)
    app.main.jobs.focus()
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(app.screen, FolderScreen), "the folder dialog")
    await pilot.press("ctrl+a", "ctrl+k", *typed_folder, "enter")
    await wait_for_step(pilot, job, Step.SAVED, Step.FAILED, Step.EXPIRED)
    assert job.step is Step.SAVED, job.error
    assert job.saved_path is not None
    return job.saved_path


@pytest.mark.skipif("gif" not in UPLOAD_OPS, reason="the server's gif op lands with issue 4")
@pytest.mark.asyncio
async def test_gif_of_a_range_round_trip(server: ServerProcess, videos: Path, home: Path) -> None:
    (home / "out").mkdir()
    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        await gif_form(pilot, "1", "2.5")
        await pilot.press("ctrl+s")
        job = only_job(pilot)
        assert (job.op, job.params) == ("gif", {"start": 1.0, "end": 2.5})
        await wait_for_step(pilot, job, Step.DONE, Step.FAILED)
        assert job.step is Step.DONE, job.error
        saved = await download_to(pilot, "~/out")
    assert saved.parent == home / "out" and saved.suffix == ".gif"
    info = probe(saved)
    assert info["format"] == "gif" and info["video_codec"] == "gif"
    assert 1.0 <= float(str(info["duration_s"])) <= 2.0
    assert not list((home / "out").glob(".*"))


@pytest.mark.asyncio
async def test_compress_round_trip_across_a_restart(
    server: ServerProcess, videos: Path, home: Path
) -> None:
    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot, "clip.mp4")
        await pilot.press("ctrl+s")  # compress, with its defaults
        job = only_job(pilot)
        await wait_for_step(pilot, job, Step.DONE, Step.FAILED)
        assert job.step is Step.DONE, job.error
        row = app.main.jobs.get_row
        await wait_until(pilot, lambda: str(row(job.key)[2]) == "done", "the row")
        assert str(row(job.key)[6]).endswith("%")  # the reduction
        await pilot.press("q")
    # A new session (no --server, no folder): it remembers the server, the folder and
    # the job still waiting on the server, and fetches its status.
    app = VcsTui()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.address == server.address
        assert app.main.files.folder == videos
        job = only_job(pilot)
        await wait_for_step(pilot, job, Step.DONE)
        saved = await download_to(pilot, "~/videos")
    assert saved == videos / "clip.compress.mp4"
    assert probe(saved)["video_codec"] == "h264"
    assert saved.stat().st_size < (videos / "clip.mp4").stat().st_size
    assert '"last_op": "compress"' in (home / ".config" / "vcs" / "tui.json").read_text()


@pytest.mark.asyncio
async def test_a_download_keeps_a_file_of_the_same_name(
    server: ServerProcess, videos: Path, home: Path
) -> None:
    (home / "out").mkdir()
    (home / "out" / "clip.gif.gif").write_text("an older gif")
    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        await gif_form(pilot, "0", "1")
        await pilot.press("ctrl+s")
        job = only_job(pilot)
        await wait_for_step(pilot, job, Step.DONE, Step.FAILED)
        assert job.step is Step.DONE, job.error
        saved = await download_to(pilot, "~/out")
    assert saved == home / "out" / "clip.gif (1).gif"
    assert probe(saved)["format"] == "gif"
    assert (home / "out" / "clip.gif.gif").read_text() == "an older gif"
