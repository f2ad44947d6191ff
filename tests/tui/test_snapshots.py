"""SVG snapshots of the main screens at 80x24 (the smallest terminal we support) and
120x40. After a deliberate change of looks: `pytest tests/tui --snapshot-update`, then
look at the new SVGs under __snapshots__/ before committing them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.client.address import ServerAddress
from app.protocol import ErrorCode, ErrorInfo
from app.tui.app import VcsTui
from app.tui.jobs import Step, TrackedJob, TransferMeter
from app.tui.local_probe import LocalMedia, Track
from app.tui.probe_cache import file_version
from tests.tui.pilot_steps import (
    app_of,
    choose_op,
    fill,
    gif_form,
    open_form,
    open_report,
    wait_until,
)

CLIP_SIZE = 2_000_000
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
    # Zeros after the last box (players ignore them) give the clip one size everywhere:
    # the details pane shows it, and x264's bytes depend on its thread count.
    os.truncate(folder / "clip.mp4", CLIP_SIZE)
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


# What the local probe says of interview.mkv. The pane's looks are the point here, with
# every kind of row; a real probe of real clips is tested in test_details_pane.py (this
# file's bytes are fixed, a clip's differ between FFmpeg builds).
INTERVIEW = LocalMedia(
    duration_s=3725.4,
    width=3840,
    height=2160,
    video_codec="hevc",
    has_audio=True,
    container="matroska",
    fps=23.976,
    dynamic_range="HDR10",
    bit_depth=10,
    tracks=(
        Track("audio", "eac3", "eng", "Surround", "5.1(side)", default=True),
        Track("audio", "aac", "fra", "", "stereo"),
        Track("subtitle", "subrip", "eng", "SDH"),
        Track("subtitle", "hdmv_pgs_subtitle", "ger"),
    ),
)


async def with_jobs(pilot: Pilot[None]) -> None:
    app = app_of(pilot)
    await wait_until(pilot, lambda: len(app.main.files.root.children) > 0, "the listing")
    version = file_version(app.main.files.folder / "interview.mkv")
    assert version is not None
    app.probes.seed(version, INTERVIEW)
    for job in sample_jobs(app.main.files.folder):
        app.runner.adopt(job)
    await pilot.press("down", "down", "down", "space")  # mark holiday.mp4, on interview.mkv
    await wait_until(pilot, lambda: app.main.jobs.row_count == 5, "the rows")
    await wait_until(pilot, lambda: app.main.details.shown == "media", "the details")


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


# A compress report as the server sends it (figures from a real run, streams as the
# fidelity work lists them), and the steps as this client saw them.
COMPRESS_REPORT: dict[str, Any] = {
    "filename": "holiday.compress.mp4",
    "size": 12_900_000,
    "input_size": 48_200_000,
    "output_size": 12_900_000,
    "reduction": 0.7324,
    "outcome": "compressed",
    "codec": "h264",
    "encoder": "libx264",
    "preset": "medium",
    "crf": 23.5,
    "audio": "aac (copied)",
    "search": {
        "sample_s": 12.0,
        "sample_windows": 3,
        "trials": [{"crf": 24.0, "score": 92.6}, {"crf": 22.0, "score": 94.1}],
    },
    "predicted_size": 12_500_000,
    "metric": "vmaf",
    "target_vmaf": 93.0,
    "vmaf": 93.21,
    "quality_measured_on": "whole file (1 frame in 5: 360 frames)",
    "time_s": {"search": 14.2, "encode": 41.9, "total": 61.3},
    "streams": [
        {"index": 0, "kind": "video", "codec": "h264", "action": "encoded", "output_index": 0},
        {"index": 1, "kind": "audio", "codec": "aac", "language": "eng", "action": "copied"},
        {"index": 2, "kind": "data", "codec": "bin_data", "action": "dropped", "reason": "data"},
    ],
}


def reported_jobs(folder: Path) -> list[TrackedJob]:
    done = TrackedJob(folder / "holiday.mp4", "compress", {"target_vmaf": 93}, step=Step.SAVED)
    done.job_id, done.server = "3e61b18a63d0252ea4741340fed3275c", "127.0.0.1:9000"
    done.input_size, done.result = 48_200_000, COMPRESS_REPORT
    done.saved_path = folder / "holiday.compress.mp4"
    seen_at_s = {Step.WAITING: 0.0, Step.UPLOADING: 0.4, Step.QUEUED: 4.6, Step.RUNNING: 4.7}
    done.timeline = {**seen_at_s, Step.DONE: 66.0, Step.DOWNLOADING: 70.0, Step.SAVED: 71.3}
    failed = TrackedJob(folder / "poster.jpg", "convert", {"format": "mkv"}, step=Step.FAILED)
    failed.job_id, failed.input_size = "7e1cbe3553b4734e42fd0aa2e18a7f62", 1000
    failed.error = ErrorInfo(
        ErrorCode.UNREADABLE_MEDIA,
        "FFmpeg cannot read the uploaded file as media (Invalid data found when processing).",
        "Upload a complete video file in a format FFmpeg supports (mp4, mkv, mov, webm, avi, "
        "...); check that the file plays locally.",
    )
    return [done, failed]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("row", [pytest.param(0, id="done"), pytest.param(1, id="failed")])
def test_job_report(
    snap_compare: SnapCompare, shelf: Path, size: tuple[int, int], row: int
) -> None:
    async def report(pilot: Pilot[None]) -> None:
        app = app_of(pilot)
        await wait_until(pilot, lambda: len(app.main.files.root.children) > 0, "the listing")
        for job in reported_jobs(app.main.files.folder):
            app.runner.adopt(job)
        await wait_until(pilot, lambda: app.main.jobs.row_count == 2, "the rows")
        await open_report(pilot, row)

    assert snap_compare(tui(shelf), terminal_size=size, run_before=report)
