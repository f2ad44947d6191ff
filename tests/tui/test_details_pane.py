"""The details pane (real clips made by FFmpeg, probed locally) and the tree that follows
its folder (a file that appears is listed without a key press)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot

from app.client.address import ServerAddress
from app.client.byte_sizes import human_bytes
from app.tui.app import VcsTui
from tests.tui.pilot_steps import app_of, wait_until


def tui(folder: Path) -> VcsTui:
    # Nothing listens on port 9 and nothing is sent: these tests only look at files.
    return VcsTui(ServerAddress("127.0.0.1", 9), folder=folder)


async def highlight(pilot: Pilot[None], name: str) -> str:
    """Move the tree's cursor to `name` with the arrow keys; the pane's text once probed."""
    app = app_of(pilot)
    tree, pane = app.main.files, app.main.details
    await wait_until(pilot, lambda: len(tree.root.children) > 0, "the folder listing")
    await pilot.press("home")
    for _ in range(len(tree.root.children) + 1):
        if tree.highlighted_file() is not None and tree.highlighted_file().name == name:
            break
        await pilot.press("down")
    assert tree.highlighted_file() is not None and tree.highlighted_file().name == name
    await wait_until(pilot, lambda: pane.path is not None and pane.path.name == name, name)
    await wait_until(pilot, lambda: pane.shown in ("media", "not-media"), f"the probe of {name}")
    return pane.text()


@pytest.fixture
def shelf(videos: Path, shown_clips: dict[str, Path]) -> Path:
    for path in shown_clips.values():
        shutil.copyfile(path, videos / path.name)
    return videos


@pytest.mark.asyncio
async def test_the_pane_shows_each_file_as_a_player_would(shelf: Path) -> None:
    app = tui(shelf)
    async with app.run_test(size=(80, 24)) as pilot:
        plain = await highlight(pilot, "clip.mp4")
        assert f"Size {human_bytes((shelf / 'clip.mp4').stat().st_size)}" in plain
        assert "Length 4.0 s" in plain
        assert "Picture 320x240 · 25 fps" in plain
        assert "Video h264 · 8-bit" in plain and "HDR no" in plain
        assert "Audio 1. aac · mono · no language · default" in plain
        assert "Subtitles none" in plain

        # Stored 320x240 with a display matrix: a player shows it 240x320.
        phone = await highlight(pilot, "phone.mp4")
        assert "Picture 240x320" in phone
        assert "turned 90° left (stored 320x240)" in phone

        hdr = await highlight(pilot, "hdr10.mp4")
        assert "Video hevc · 10-bit" in hdr and "HDR yes, HDR10" in hdr
        assert "Audio none" in hdr

        tracks = await highlight(pilot, "tracks.mkv")
        assert "Length 4.0 s" in tracks
        assert "Audio 1. opus · mono · eng · “Director” · default" in tracks
        assert "2. opus · 5.1 · fra" in tracks
        assert "Subtitles 1. subrip · ger" in tracks
        assert "Format matroska" in tracks

        notes = await highlight(pilot, "notes.txt")
        assert "Not a video or audio file" in notes
        assert "Size 12 B" in notes

        # Back on a file already shown: from the cache, not probed again.
        probes_run = app.probes.probes_run
        assert "Picture 240x320" in await highlight(pilot, "phone.mp4")
        assert app.probes.probes_run == probes_run


@pytest.mark.asyncio
async def test_a_changed_file_is_probed_again(shelf: Path, shown_clips: dict[str, Path]) -> None:
    app = tui(shelf)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "Picture 320x240" in await highlight(pilot, "clip.mp4")
        shutil.copyfile(shown_clips["phone"], shelf / "clip.mp4")  # same name, new content
        await pilot.press("up")
        assert "Picture 240x320" in await highlight(pilot, "clip.mp4")


@pytest.mark.asyncio
async def test_a_file_that_appears_in_the_folder_is_listed(videos: Path, tui_clip: Path) -> None:
    app = tui(videos)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = app.main.files

        def listed() -> set[str]:
            return {node.data.path.name for node in tree.root.children if node.data}

        await wait_until(pilot, lambda: listed() == {"clip.mp4", "notes.txt"}, "the listing")
        await pilot.press("down", "down")  # on notes.txt
        # Written under a hidden name and moved into place, as a download is.
        partial = videos / ".clip.compress.mp4.part"
        shutil.copyfile(tui_clip, partial)
        partial.rename(videos / "clip.compress.mp4")
        await wait_until(pilot, lambda: "clip.compress.mp4" in listed(), "the new file")
        assert tree.highlighted_file() == videos / "notes.txt"  # the cursor stayed put
        (videos / "notes.txt").unlink()
        await wait_until(pilot, lambda: "notes.txt" not in listed(), "the deletion")
