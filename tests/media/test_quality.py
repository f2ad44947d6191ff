"""VMAF and SSIM through the bundled FFmpeg: scores, sample windows, awkward paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.media.crf_search import SampleWindow
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.ffmpeg_features import features_of
from app.media.quality import Metric, filter_path
from app.media.quality_search import measure_quality
from tests.media_files import make_clip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("quality") / "pristine.mp4", seconds=3, size="320x240", audio=False
    )


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [find_ffmpeg(), "-nostdin", "-loglevel", "error", "-y", *args], check=True, timeout=60
    )


@pytest.fixture(scope="module")
def blocky(pristine: Path) -> Path:
    out = pristine.with_name("blocky.mp4")
    ffmpeg("-i", str(pristine), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "42", str(out))
    return out


WINDOWS = (SampleWindow(0.2, 0.8), SampleWindow(1.6, 1.0))


@pytest.fixture(scope="module")
def samples(pristine: Path) -> Path:
    """The WINDOWS of the source, joined and encoded losslessly."""
    out = pristine.with_name("samples.mkv")
    inputs = []
    for w in WINDOWS:
        inputs += ["-ss", str(w.start_s), "-t", str(w.duration_s), "-i", str(pristine)]
    ffmpeg(
        *inputs,
        *("-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]"),
        *("-fps_mode", "passthrough", "-c:v", "libx264", "-qp", "0", str(out)),
    )
    return out


async def score(distorted: Path, src: Path, metric: Metric, log: Path, **kw: object) -> float:
    result = await measure_quality(
        find_ffmpeg(),
        distorted,
        src,
        kw.pop("windows", ()),  # type: ignore[arg-type]
        metric,
        log,
        subsample=int(kw.pop("subsample", 1)),  # type: ignore[call-overload]
        duration_s=3.0,
    )
    assert not log.exists()  # the log is read and removed
    return result.value


@pytest.mark.trio
async def test_vmaf_tells_a_copy_from_a_blocky_encode(
    pristine: Path, blocky: Path, tmp_path: Path
) -> None:
    assert features_of(find_ffmpeg()).has_filter("libvmaf")
    same = await score(pristine, pristine, Metric.VMAF, tmp_path / "a.json")
    worse = await score(blocky, pristine, Metric.VMAF, tmp_path / "b.json")
    assert same > 97
    assert worse < same - 10


@pytest.mark.trio
async def test_ssim_fallback_scores_too(pristine: Path, blocky: Path, tmp_path: Path) -> None:
    same = await score(pristine, pristine, Metric.SSIM, tmp_path / "a.log")
    worse = await score(blocky, pristine, Metric.SSIM, tmp_path / "b.log")
    assert same > 0.999
    assert worse < 0.98


@pytest.mark.trio
async def test_sample_windows_pair_with_the_same_frames(
    pristine: Path, samples: Path, tmp_path: Path
) -> None:
    assert await score(samples, pristine, Metric.VMAF, tmp_path / "w.json", windows=WINDOWS) > 97
    # Misaligned by a few frames: other pictures, a much lower score.
    shifted = (SampleWindow(0.0, 0.8), SampleWindow(1.0, 1.0))
    assert await score(samples, pristine, Metric.VMAF, tmp_path / "s.json", windows=shifted) < 90


@pytest.mark.trio
async def test_logs_can_live_under_any_directory_name(pristine: Path, tmp_path: Path) -> None:
    odd = tmp_path / "a:b,c'd [e];f\\g"
    odd.mkdir()
    assert await score(pristine, pristine, Metric.VMAF, odd / "log.json", subsample=5) > 97
    assert await score(pristine, pristine, Metric.SSIM, odd / "log.txt") > 0.999


def test_filter_path_escapes_both_levels() -> None:
    # Graph level: `\\` → `\`; option level: `\:` → `:`.
    assert filter_path(Path("/x/a:b")) == "/x/a\\\\:b"
    assert filter_path(Path("/x/a,b")) == "/x/a\\,b"
    assert filter_path(Path("/plain/path.json")) == "/plain/path.json"
