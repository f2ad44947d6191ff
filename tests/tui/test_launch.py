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
    argv = [sys.executable, "-m", "app.client.cli", "tui", "--server", "127.0.0.1:9"]
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
        [sys.executable, "-m", "app.client.cli", "tui", "--server", "host:notaport"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "bad port" in result.stderr
