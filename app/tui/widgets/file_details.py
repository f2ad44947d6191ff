"""The details pane: what the highlighted file is, as a player would show it.

Size at once; the rest (duration, picture size with rotation applied, codec, HDR, every
audio and subtitle track with its language) from the local probe, run in a worker
thread a moment after the cursor stops (scrolling through a folder starts no probes)
and kept per file version (app/tui/probe_cache.py). The UI never waits for FFmpeg.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar, Final

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from app.client.byte_sizes import human_bytes
from app.tui.local_probe import LocalMedia, Track
from app.tui.probe_cache import ProbeCache, file_version

# The cursor must rest this long on a file before it is probed.
PROBE_AFTER_S: Final = 0.15

Rows = list[tuple[str, str]]


def format_length(seconds: float) -> str:
    """`1:02:03`, `4:05.2`, `3.0 s`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


def _tracks(tracks: tuple[Track, ...]) -> str:
    if not tracks:
        return "none"
    return "\n".join(f"{n}. {track.describe()}" for n, track in enumerate(tracks, 1))


def turned(media: LocalMedia) -> str:
    """The turn, and the stored size (the Picture row is the size as shown)."""
    stored = f" (stored {media.height}x{media.width})" if media.rotation in (90, 270) else ""
    return media.turn_text + stored


def media_rows(media: LocalMedia) -> Rows:
    """What the pane lists for a file FFmpeg reads."""
    rows: Rows = []
    if media.duration_s is not None:
        rows.append(("Length", format_length(media.duration_s)))
    if media.width and media.height:
        picture = f"{media.width}x{media.height}"
        if media.fps:
            picture += f" · {media.fps:.3g} fps"
        rows.append(("Picture", picture))
        if media.turn_text:
            rows.append(("", turned(media)))
    if media.video_codec:
        depth = f" · {media.bit_depth}-bit" if media.bit_depth else ""
        rows.append(("Video", media.video_codec + depth))
        rows.append(("HDR", f"yes, {media.dynamic_range}" if media.is_hdr else "no"))
    else:
        rows.append(("Video", "none (audio only)"))
    if media.container:
        rows.append(("Format", media.container))
    rows.append(("Audio", _tracks(media.audio_tracks)))
    rows.append(("Subtitles", _tracks(media.subtitle_tracks)))
    return rows


class FileDetails(VerticalScroll, can_focus=False):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"file-details--label", "file-details--note"}

    def __init__(self, probes: ProbeCache, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._probes = probes
        self._body = Static(id="details-body")
        self.path: Path | None = None
        # What the pane shows now: "probing", "media", "not-media", "folder", "gone".
        self.shown = ""
        self.rows: Rows = []
        self.note = ""

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, path: Path | None) -> None:
        """Show `path` (a file or a folder in the tree); probe it if it was not yet."""
        self.path = path
        if path is None:
            self.border_title = "Details"
            self._fill("gone", [], "Nothing highlighted.")
            return
        self.border_title = path.name
        if path.is_dir():
            self._fill("folder", [], "A folder: enter opens it, ↑↓ pick a file.")
            return
        version = file_version(path)
        if version is None:
            self._fill("gone", [], "This file is gone.")
            return
        size = ("Size", human_bytes(version[1]))
        known, media = self._probes.cached(version)
        if known:
            self._render_media(size, media)
            return
        self._fill("probing", [size], "Probing…")
        self.run_worker(self._probe(path, size), exclusive=True, group="details")

    async def _probe(self, path: Path, size: tuple[str, str]) -> None:
        await asyncio.sleep(PROBE_AFTER_S)  # cancelled (exclusive) when the cursor moves on
        try:
            media = await asyncio.to_thread(self._probes.probe, path)
        except Exception as exc:  # an odd file must not end the app; say what happened
            if path == self.path:
                self._fill("not-media", [size], f"Could not be read ({type(exc).__name__}).")
            return
        if path == self.path:
            self._render_media(size, media)

    def _render_media(self, size: tuple[str, str], media: LocalMedia | None) -> None:
        if media is None:
            self._fill("not-media", [size], "Not a video or audio file FFmpeg can read.")
        else:
            self._fill("media", [size, *media_rows(media)], "")

    def _fill(self, shown: str, rows: Rows, note: str) -> None:
        self.shown, self.rows, self.note = shown, rows, note
        grid = Table.grid(padding=(0, 1, 0, 0))
        grid.add_column(
            style=self.get_component_rich_style("file-details--label", partial=True),
            no_wrap=True,
        )
        grid.add_column(overflow="fold")
        for name, value in rows:
            grid.add_row(name, Text(value))
        style = self.get_component_rich_style("file-details--note", partial=True)
        self._body.update(Group(grid, Text(note, style=style)) if note else grid)

    def text(self) -> str:
        """What the pane says, as plain text (for tests and logs)."""
        lines = [f"{name} {value}".strip() for name, value in self.rows]
        return "\n".join([*lines, self.note] if self.note else lines)
