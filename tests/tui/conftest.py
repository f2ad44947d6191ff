"""TUI fixtures: a private home (settings, `~`), a folder holding a real clip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.media_files import ffmpeg, make_clip, with_rotation


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


@pytest.fixture(scope="session")
def shown_clips(media: Path, tui_clip: Path) -> dict[str, Path]:
    """Clips the details pane must show as a player would: a phone's portrait clip (a
    display matrix on 320x240 pixels), HDR10 (10-bit HEVC tagged PQ / BT.2020), and an
    MKV with two tagged audio tracks and a subtitle track."""
    folder = media / "shown"
    folder.mkdir()
    srt = folder / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHallo\n")
    tracks = folder / "tracks.mkv"
    ffmpeg(
        *("-i", str(tui_clip), "-f", "lavfi", "-i", "sine=frequency=300:duration=4"),
        *("-i", str(srt), "-map", "0:v", "-map", "0:a", "-map", "1:a", "-map", "2"),
        *("-c:v", "copy", "-c:a", "libopus", "-ac:a:1", "6", "-c:s", "srt", "-t", "4"),
        *("-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=Director"),
        *("-metadata:s:a:1", "language=fra", "-metadata:s:s:0", "language=ger"),
        *("-disposition:a:0", "default", "-disposition:a:1", "0", str(tracks)),
    )
    hdr10 = make_clip(
        folder / "hdr10.mp4",
        seconds=1,
        size="320x240",
        audio=False,
        video_args=(
            *("-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"),
            "-x265-params",
            "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
        ),
    )
    return {
        "phone": with_rotation(tui_clip, folder / "phone.mp4", 90),
        "hdr10": hdr10,
        "tracks": tracks,
    }
