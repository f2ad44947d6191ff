"""The gif op's memory does not grow with the span, and stays under its RLIMIT_AS.

Issue 14: one `split` into palettegen and paletteuse held every frame until the palette
was ready (6.9 GB at 60 s, 30 fps, 1280 px). Now the palette is a first pass and the GIF
pass streams. Measured as the FFmpeg children's peak resident memory (ru_maxrss) in a
process of its own: a figure the kernel keeps, not a sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.media.limits import MiB
from app.media.sandbox import SANDBOX_ENV
from app.protocol.ops.table import GIF_MAX_FPS, GIF_MAX_WIDTH_PX, MAX_SPAN_S
from tests.media_files import make_clip, probe


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("gif") / "upload",
        seconds=MAX_SPAN_S + 2,
        size="1280x720",
        rate=30,
        audio=False,
        video_args=("-c:v", "libx264", "-preset", "ultrafast", "-crf", "30"),
        extra=("-f", "mp4"),
    )


def gif_op(src: Path, out: Path, span_s: float) -> dict[str, int]:
    # FFmpeg as a direct child (rlimits, no bubblewrap): bubblewrap's init does not pass
    # its children's usage on, and memory use is the same in or out of the box.
    env = {**os.environ, SANDBOX_ENV: "rlimits"}
    argv = [sys.executable, "-m", "tests.support.gif_harness", str(src), str(out)]
    argv += ["0", str(span_s), str(GIF_MAX_FPS), str(GIF_MAX_WIDTH_PX)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_gif_op_at_its_maximum_stays_flat_and_under_its_bound(
    long_clip: Path, tmp_path: Path
) -> None:
    short = gif_op(long_clip, tmp_path / "short.gif", 6.0)
    longest = gif_op(long_clip, tmp_path / "long.gif", MAX_SPAN_S)
    # It ran under its RLIMIT_AS and made the whole GIF.
    assert longest["children_maxrss_bytes"] < longest["memory_bound_bytes"]
    gif = probe(tmp_path / "long.gif")
    assert (gif["format"], gif["width"]) == ("gif", GIF_MAX_WIDTH_PX)
    assert float(gif["duration_s"]) == pytest.approx(MAX_SPAN_S, abs=0.5)
    # Ten times the frames, about the same memory (buffering them: 1,800 x 3.7 MB).
    assert longest["children_maxrss_bytes"] < short["children_maxrss_bytes"] + 64 * MiB
