"""Placing a finished download: a free name, or the next numbered one, never a replace."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from app.client.result_files import place_result
from app.files.atomic_write import AtomicFile


def finished(folder: Path, data: bytes) -> AtomicFile:
    partial = AtomicFile(folder)
    partial.write(data)
    return partial


@pytest.mark.parametrize("hard_links", [True, False])
def test_taken_names_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    if not hard_links:  # as on file systems without them (vfat, some network mounts)

        def no_link(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"mine")
    (tmp_path / "clip (1).mp4").mkdir()  # a folder takes the name too
    os.symlink(tmp_path / "nowhere", tmp_path / "clip (2).mp4")  # and a dangling link
    with finished(tmp_path, b"new") as partial:
        placed = place_result(partial, target, overwrite=False)
    assert placed == tmp_path / "clip (3).mp4" and placed.read_bytes() == b"new"
    assert target.read_bytes() == b"mine"
    assert not (tmp_path / "nowhere").exists()
    assert not list(tmp_path.glob(".*.part"))


def test_overwrite_replaces(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"mine")
    with finished(tmp_path, b"new") as partial:
        assert place_result(partial, target, overwrite=True) == target
    assert target.read_bytes() == b"new" and not list(tmp_path.glob(".*.part"))
