"""The job report screen on real jobs: one that failed (its error and the server's
solution) and one that finished (sizes, picture, phases), both sent in one go."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.tui.app import VcsTui
from app.tui.jobs import Step
from app.tui.screens.job_report import JobReportScreen
from tests.support.server_process import ServerProcess
from tests.tui.pilot_steps import (
    app_of,
    choose_op,
    fill,
    open_form,
    open_report,
    wait_for_step,
    wait_until,
)


@pytest.mark.asyncio
async def test_reports_of_a_failed_and_a_finished_job(server: ServerProcess, videos: Path) -> None:
    (videos / "broken.mp4").write_bytes(b"\0not a video\n" * 100)
    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = app_of(pilot).main.files
        await wait_until(pilot, lambda: len(tree.root.children) == 3, "the listing")
        await pilot.press("down", "space", "space")  # mark broken.mp4 and clip.mp4
        form = await open_form(pilot, "clip.mp4")
        await choose_op(pilot, form, "resize")
        await fill(pilot, form, "width", "160")
        await pilot.press("ctrl+s")
        broken, clip = sorted(app.runner.jobs, key=lambda j: j.path.name)
        assert (broken.path.name, clip.path.name) == ("broken.mp4", "clip.mp4")
        for job in (broken, clip):
            await wait_for_step(pilot, job, Step.DONE, Step.FAILED)
        assert broken.step is Step.FAILED and clip.step is Step.DONE, clip.error

        rows = [app.main.jobs.get_row_index(job.key) for job in (broken, clip)]
        failed = await open_report(pilot, rows[0])
        assert "State: failed" in failed
        assert "Error: unreadable_media: FFmpeg cannot read the uploaded file" in failed
        assert f"Solution: {broken.error.solution}" in failed and broken.error.solution
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobReportScreen), "closed")

        done = await open_report(pilot, rows[1])
        assert "State: done" in done and f"Job: {clip.job_id} on {server.address}" in done
        assert "Picture: 160x120" in done
        # Processing is timed on its own, or with the queue when no poll saw it running.
        assert "Phases: upload " in done and "processing " in done
        assert "Error" not in done
        await pilot.press("escape")
