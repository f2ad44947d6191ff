"""TUI fixtures: a private home (settings, `~`), a folder holding a real clip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.media_files import make_clip


@pytest.fixture(scope="session")
def tui_clip(media: Path) -> Path:
    """4 s at 320x240: every op on it takes well under a second of FFmpeg."""
    return make_clip(media / "tui_clip.mp4", seconds=4, size="320x240")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and XDG_CONFIG_HOME in tmp_path: the TUI's settings and `~` are the test's."""
    home = tmp_path / "home"
    (home / "videos").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("VCS_SERVER", raising=False)
    return home


@pytest.fixture
def videos(home: Path, tui_clip: Path) -> Path:
    folder = home / "videos"
    shutil.copyfile(tui_clip, folder / "clip.mp4")
    (folder / "notes.txt").write_text("not a video\n")
    return folder
