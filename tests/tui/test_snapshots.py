"""SVG snapshots of the main screens at 80x24 (the smallest terminal we support) and
120x40. After a deliberate change of looks: `pytest tests/tui --snapshot-update`, then
look at the new SVGs under __snapshots__/ before committing them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.client.address import ServerAddress
from app.tui.app import VcsTui
from app.tui.jobs import Step, TrackedJob, TransferMeter
from tests.tui.pilot_steps import app_of, choose_op, fill, gif_form, open_form, wait_until

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
SnapCompare = Callable[..., bool]


@pytest.fixture
def shelf(home: Path, tui_clip: Path) -> Path:
    """A folder of videos and other files, with fixed names and sizes."""
    folder = home / "videos"
    (folder / "raw").mkdir()
    for name in ("holiday.mp4", "interview.mkv", "notes.txt", "poster.jpg"):
        (folder / name).write_bytes(b"\0" * 1000)
    shutil.copyfile(tui_clip, folder / "clip.mp4")
    return folder


def tui(folder: Path) -> VcsTui:
    # Nothing listens on port 9; these jobs have no id, so nothing is ever asked of it.
    return VcsTui(ServerAddress("127.0.0.1", 9), folder=folder)


def sample_jobs(folder: Path) -> list[TrackedJob]:
    done = TrackedJob(folder / "holiday.mp4", "compress", {}, step=Step.DONE)
    done.input_size, done.result = 48_200_000, {"output_size": 12_900_000}
    running = TrackedJob(folder / "interview.mkv", "gif", {}, step=Step.RUNNING)
    running.input_size, running.progress, running.eta_s = 731_000_000, 0.42, 75
    uploading = TrackedJob(folder / "clip.mp4", "webm", {}, step=Step.UPLOADING)
    uploading.input_size = 3_000_000
    uploading.transfer = TransferMeter(3_000_000)
    uploading.transfer.advance(1_200_000)
    waiting = TrackedJob(folder / "a-very-long-file-name-from-a-camera.mp4", "resize", {})
    failed = TrackedJob(folder / "poster.jpg", "convert", {}, step=Step.FAILED)
    failed.input_size = 1000
    return [done, running, uploading, waiting, failed]


async def with_jobs(pilot: Pilot[None]) -> None:
    app = app_of(pilot)
    await wait_until(pilot, lambda: len(app.main.files.root.children) > 0, "the listing")
    for job in sample_jobs(app.main.files.folder):
        app.runner.adopt(job)
    await pilot.press("down", "down", "down", "space")  # mark holiday.mp4
    await wait_until(pilot, lambda: app.main.jobs.row_count == 5, "the rows")


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: SnapCompare, shelf: Path, size: tuple[int, int]) -> None:
    assert snap_compare(tui(shelf), terminal_size=size, run_before=with_jobs)


@pytest.mark.parametrize("size", SIZES)
def test_gif_form_with_an_error(
    snap_compare: SnapCompare, shelf: Path, size: tuple[int, int]
) -> None:
    async def bad_range(pilot: Pilot[None]) -> None:
        await gif_form(pilot, "1.5", "9")

    assert snap_compare(tui(shelf), terminal_size=size, run_before=bad_range)


def test_resize_form(snap_compare: SnapCompare, shelf: Path) -> None:
    async def resize_form(pilot: Pilot[None]) -> None:
        form = await open_form(pilot, "clip.mp4")
        await choose_op(pilot, form, "resize")
        await fill(pilot, form, "width", "641")

    assert snap_compare(tui(shelf), run_before=resize_form)


def test_help_screen(snap_compare: SnapCompare, shelf: Path) -> None:
    assert snap_compare(tui(shelf), press=["question_mark"])


def test_download_dialog(snap_compare: SnapCompare, shelf: Path) -> None:
    async def download(pilot: Pilot[None]) -> Any:
        await with_jobs(pilot)
        app_of(pilot).main.jobs.focus()
        await pilot.press("d")

    assert snap_compare(tui(shelf), run_before=download)
