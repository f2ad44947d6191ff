"""A result as a player sees it, told by Debian's ffprobe (not by our own probe).

ffprobe is FFmpeg's reference reader: its display matrix, colour tags, side data,
dispositions and chapters are what players built on FFmpeg (mpv, VLC, browsers' media
stacks of the same lineage) act on. Tests that need it skip, naming it, where it is
missing; scripts/test installs it when it can (root with apt).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def ffprobe() -> str:
    found = shutil.which("ffprobe")
    if found is None:
        pytest.skip("ffprobe (Debian's ffmpeg package) is not installed: apt-get install ffmpeg")
    return found


@dataclass(frozen=True)
class PlayerView:
    doc: dict[str, Any]
    first_frame: dict[str, Any]

    @property
    def streams(self) -> list[dict[str, Any]]:
        return list(self.doc.get("streams", []))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [s for s in self.streams if s.get("codec_type") == kind]

    @property
    def video(self) -> dict[str, Any]:
        return self.of_kind("video")[0]

    @property
    def rotation(self) -> float:
        """The display matrix's rotation as ffprobe prints it (0 when there is none)."""
        for side in self.video.get("side_data_list", []):
            if "rotation" in side:
                return float(side["rotation"])
        return 0.0

    @property
    def display_size(self) -> tuple[int, int]:
        """Width x height as shown: sample aspect applied, sides swapped when turned."""
        video = self.video
        width, height = int(video["width"]), int(video["height"])
        sar = video.get("sample_aspect_ratio", "1:1")
        num, _, den = sar.partition(":")
        if num.isdigit() and den.isdigit() and int(num) and int(den):
            width = round(width * int(num) / int(den))
        if abs(self.rotation) % 180 == 90:
            width, height = height, width
        return width, height

    @property
    def chapters(self) -> list[dict[str, Any]]:
        return list(self.doc.get("chapters", []))

    def side_data(self, name: str) -> dict[str, Any] | None:
        """Side data of the video stream or its first frame, by type name."""
        for side in [
            *self.video.get("side_data_list", []),
            *self.first_frame.get("side_data_list", []),
        ]:
            if side.get("side_data_type") == name:
                return dict(side)
        return None


def player_view(path: Path) -> PlayerView:
    probe = ffprobe()
    run = [probe, "-v", "error", "-print_format", "json"]
    doc = json.loads(
        subprocess.run(
            [*run, "-show_format", "-show_streams", "-show_chapters", str(path)],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
    )
    frames = json.loads(
        subprocess.run(
            [*run, "-select_streams", "v:0", "-show_frames", "-read_intervals", "%+#1", str(path)],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
    ).get("frames", [])
    return PlayerView(doc, frames[0] if frames else {})


def tags(stream: dict[str, Any]) -> dict[str, str]:
    """Stream tags with lower-case keys (Matroska writes TITLE, MP4 reads back name)."""
    return {key.lower(): value for key, value in stream.get("tags", {}).items()}


def title(stream: dict[str, Any]) -> str | None:
    """Matroska's title; in MP4 the track name, which ffprobe 5 reads as the handler's."""
    found = tags(stream)
    return found.get("title") or found.get("name") or found.get("handler_name")


def dispositions(stream: dict[str, Any]) -> set[str]:
    return {name for name, on in stream.get("disposition", {}).items() if on}
