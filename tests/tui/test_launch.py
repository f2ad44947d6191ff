"""`vcs tui` starts the real app in a terminal (a pty), as a user would."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from app.client.address import ServerAddress
from app.tui.app import VcsTui
from tests.tui.pilot_steps import notifications, wait_until


def test_vcs_tui_opens_in_an_80x24_terminal(home: Path, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        # Textual's own screenshot: save an SVG after 1 s, then exit.
        "TEXTUAL_SCREENSHOT": "1",
        "TEXTUAL_SCREENSHOT_LOCATION": str(tmp_path),
        "TEXTUAL_SCREENSHOT_FILENAME": "tui.svg",
    }
    argv = [sys.executable, "-m", "app.cli", "tui", "--server", "127.0.0.1:9"]
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, cwd=home / "videos", env=env
    )
    os.close(slave)
    output = bytearray()

    def drain() -> None:  # the pty's buffer must not fill up, or the app blocks
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            output.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert proc.wait(timeout=60) == 0, output.decode(errors="replace")[-2000:]
    finally:
        proc.kill()
        os.close(master)
    svg = (tmp_path / "tui.svg").read_text()
    assert "127.0.0.1:9" in svg and "Jobs" in svg
    # It remembered where it was started and which server it used.
    settings = (home / ".config" / "vcs" / "tui.json").read_text()
    assert "127.0.0.1:9" in settings and str(home / "videos") in settings


def test_vcs_tui_rejects_a_bad_server_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "tui", "--server", "host:notaport"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "bad port" in result.stderr


@pytest.mark.asyncio
async def test_the_command_palette_finds_the_actions(home: Path) -> None:
    app = VcsTui(ServerAddress("127.0.0.1", 9), folder=home)
    async with app.run_test(size=(80, 24)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for action in ("Run an operation", "Refresh jobs", "Download job", "Cancel job"):
            assert action in titles
        await pilot.press("ctrl+p", *"refresh jobs")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: any("Refreshing" in n for n in notifications(pilot)), "the action"
        )
