"""Regenerate docs/tui.svg: `vcs tui` at 100x30 against a real vcs-serve on loopback,
after a real compress job, saved by Textual's own screenshot action.

    .venv/bin/python scripts/tui_screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.tui.app import VcsTui  # noqa: E402
from app.tui.jobs import Step  # noqa: E402
from tests.support.media_files import make_clip  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402
from tests.tui.pilot_steps import open_form, wait_until  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"


async def shoot(server: ServerProcess, home: Path) -> None:
    videos = home / "videos"
    app = VcsTui(server.address, folder=videos)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_form(pilot, "holiday.mp4")
        await pilot.press("ctrl+s")
        job = app.runner.jobs[0]
        await wait_until(pilot, lambda: job.step is Step.DONE, "the compress job")
        app.main.files.focus()
        await pilot.press("down", "space", "down", "space")  # mark interview.mkv, talk.mov
        await pilot.press("home", "down", "down")  # holiday.mp4's details beside the tree
        await wait_until(pilot, lambda: app.main.details.shown == "media", "the details")
        app.main.jobs.focus()
        await pilot.pause(0.3)
        app.action_screenshot(filename="tui.svg", path=str(DOCS))
        await pilot.pause(0.3)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        videos = home / "videos"
        (videos / "raw").mkdir(parents=True)
        os.environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        make_clip(videos / "holiday.mp4", seconds=4, size="640x360")
        make_clip(videos / "interview.mkv", seconds=2, size="320x240")
        make_clip(videos / "talk.mov", seconds=2, size="320x240")
        (videos / "notes.txt").write_text("cut at 0:42\n")
        server = ServerProcess(Path(tmp) / "storage").start()
        try:
            asyncio.run(shoot(server, home))
        finally:
            server.stop()
    print(f"wrote {DOCS / 'tui.svg'}")


if __name__ == "__main__":
    main()
