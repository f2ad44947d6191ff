"""Which files a batch (`vcs OP FILE... --recursive DIR`) runs on, and where each result goes.

The rule, documented in README.md ("Batches"):

- FILEs named on the command line run in the order given; a FILE that is missing or a
  folder is a usage error before anything is sent.
- `--recursive DIR` adds the video files under DIR, sorted by path: files whose
  extension is a video container's (`VIDEO_EXTENSIONS`, case-insensitive), not hidden
  and not in hidden folders. The extension decides, not a probe: a library of
  thousands of files is listed at once, and the server probes every upload anyway.
- Results of earlier runs (`clip.compress.mp4`, `clip.resize (1).mp4`, ... — the names
  the server gives results, numbered by the client when taken) are skipped, whether
  found or named, unless `--include-results`: a batch run twice must not work on its
  own output. A single FILE is always run as named.
- Results go to the current folder (a named FILE) or beside their input (a file found
  under DIR); with `-o FOLDER` into that folder, a found file at the same path below it
  as below DIR. With several files `-o` must name a folder (created when missing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from app.protocol.ops import UPLOAD_OPS
from app.tui.local_probe import VIDEO_EXTENSIONS

# `stem.OP.ext` as the server names a result (app/server/job.py), `stem.OP (N).ext` once
# the client numbered it beside a taken name (app/client/result_files.py).
_RESULT_NAME: Final = re.compile(
    r"\.(?:" + "|".join(map(re.escape, UPLOAD_OPS)) + r")(?: \(\d+\))?\.[A-Za-z0-9]{1,16}$"
)
# Media types a result can have that are not video containers: an `-o` ending in one
# names a file, not a folder.
_RESULT_ONLY_TYPES: Final = frozenset({"gif", "mp3"})


def is_result_name(name: str) -> bool:
    """Whether `name` is what a vcs result is called (`holiday.compress.mp4`)."""
    return _RESULT_NAME.search(name) is not None


class BatchUsageError(ValueError):
    """The command line names files a batch cannot run on (exit 2 before anything is sent)."""


@dataclass(frozen=True, slots=True)
class BatchInput:
    path: Path
    # The folder its result goes to; None: the current folder, as for a single file.
    result_folder: Path | None
    size_bytes: int = 0


@dataclass(frozen=True, slots=True)
class BatchPlan:
    inputs: tuple[BatchInput, ...]
    skipped_results: tuple[Path, ...] = ()
    # Folders under a --recursive DIR that could not be listed (permissions).
    unreadable_folders: tuple[Path, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(item.size_bytes for item in self.inputs)


def is_video_name(path: Path) -> bool:
    return path.suffix.lstrip(".").lower() in VIDEO_EXTENSIONS


def find_videos(root: Path, unreadable: list[Path]) -> Iterator[Path]:
    """Video files under `root`, sorted by path; hidden files and folders are left out,
    symlinked folders are not followed (no loops); folders that cannot be listed are
    appended to `unreadable`."""

    def note(error: OSError) -> None:
        unreadable.append(Path(error.filename) if error.filename else root)

    for folder, subfolders, files in os.walk(root, onerror=note):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if not name.startswith(".") and is_video_name(path) and path.is_file():
                yield path


def check_output_folder(output: Path) -> None:
    """With several files, `-o` is a folder: an existing one, or a new name that does
    not look like a file's."""
    if output.exists() and not output.is_dir():
        raise BatchUsageError(
            f"-o {output} is a file; with several files -o names a folder for the results"
        )
    suffix = output.suffix.lstrip(".").lower()
    if not output.exists() and (suffix in VIDEO_EXTENSIONS or suffix in _RESULT_ONLY_TYPES):
        raise BatchUsageError(
            f"-o {output} looks like a file name; with several files -o names a folder "
            "for the results (it is created if missing)"
        )


def plan_batch(
    files: Sequence[Path],
    roots: Sequence[Path],
    output: Path | None,
    *,
    include_results: bool = False,
) -> BatchPlan:
    """The inputs of a batch in the order they run, with each result's folder."""
    problems = [f"{path} is a folder; use --recursive {path}" for path in files if path.is_dir()]
    problems += [
        f"{path} is not a file" for path in files if not path.is_file() and not path.is_dir()
    ]
    problems += [f"--recursive {root} is not a folder" for root in roots if not root.is_dir()]
    if problems:
        raise BatchUsageError("; ".join(problems))
    if output is not None:
        check_output_folder(output)
    candidates: list[BatchInput] = [BatchInput(path, output) for path in files]
    unreadable: list[Path] = []
    for root in roots:
        for path in find_videos(root, unreadable):
            below = path.parent.relative_to(root)
            candidates.append(BatchInput(path, output / below if output else path.parent))
    seen: set[Path] = set()
    inputs: list[BatchInput] = []
    skipped: list[Path] = []
    for item in candidates:
        key = item.path.resolve()
        if key in seen:
            continue
        seen.add(key)
        if not include_results and is_result_name(item.path.name):
            skipped.append(item.path)
        else:
            inputs.append(replace(item, size_bytes=item.path.stat().st_size))
    return BatchPlan(tuple(inputs), tuple(skipped), tuple(unreadable))
