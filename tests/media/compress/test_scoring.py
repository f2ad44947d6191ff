"""VMAF and SSIM through the bundled FFmpeg: scores, sample windows, awkward paths."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from app.media.capabilities import features_of
from app.media.compress.argv import RAW_SAMPLES_MUXER, sample_encode_argv, samples_raw_argv
from app.media.compress.encode import ScoreAlong, encode_final
from app.media.compress.metric import Metric, QualityTarget, filter_path
from app.media.compress.plan import ENCODERS, plan_compress
from app.media.compress.scoring import measure_quality
from app.media.compress.search import decoded_fps, frame_bytes
from app.media.compress.search_policy import SampleWindow
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.limits import DEFAULT_LIMITS
from app.media.probe import MediaInfo, VideoInfo, probe_media
from app.media.runner import Box, run_ffmpeg
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


LIMITS = DEFAULT_LIMITS.for_ffmpeg(None, 1 << 30)


def box(reads: tuple[Path, ...], writes: tuple[Path, ...]) -> Box:
    return Box(reads, writes, LIMITS)


async def score(distorted: Path, src: Path, metric: Metric, log: Path, **kw: object) -> float:
    """`distorted` is one of our encodes (`distorted_format`, default Matroska); `src` the
    source (an upload, or `src_format` when it is raw samples we wrote)."""
    result = await measure_quality(
        find_ffmpeg(),
        distorted,
        src,
        kw.pop("windows", ()),  # type: ignore[arg-type]
        metric,
        log,
        subsample=int(kw.pop("subsample", 1)),  # type: ignore[call-overload]
        duration_s=3.0,
        limits=LIMITS,
        distorted_format=str(kw.pop("distorted_format", "matroska")),
        src_format=kw.pop("src_format", None),  # type: ignore[arg-type]
    )
    assert not log.exists()  # the log is read and removed
    return result.value


@pytest.mark.trio
async def test_vmaf_tells_a_copy_from_a_blocky_encode(
    pristine: Path, blocky: Path, tmp_path: Path
) -> None:
    assert features_of(find_ffmpeg()).has_filter("libvmaf")
    same = await score(pristine, pristine, Metric.VMAF, tmp_path / "a.json", distorted_format="mp4")
    worse = await score(blocky, pristine, Metric.VMAF, tmp_path / "b.json", distorted_format="mp4")
    assert same > 97
    assert worse < same - 10


@pytest.mark.trio
async def test_ssim_fallback_scores_too(pristine: Path, blocky: Path, tmp_path: Path) -> None:
    same = await score(pristine, pristine, Metric.SSIM, tmp_path / "a.log", distorted_format="mp4")
    worse = await score(blocky, pristine, Metric.SSIM, tmp_path / "b.log", distorted_format="mp4")
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
    mp4 = {"distorted_format": "mp4"}
    assert await score(pristine, pristine, Metric.VMAF, odd / "log.json", subsample=5, **mp4) > 97
    assert await score(pristine, pristine, Metric.SSIM, odd / "log.txt", **mp4) > 0.999


def test_filter_path_escapes_both_levels() -> None:
    # Graph level: `\\` → `\`; option level: `\:` → `:`.
    assert filter_path(Path("/x/a:b")) == "/x/a\\\\:b"
    assert filter_path(Path("/x/a,b")) == "/x/a\\,b"
    assert filter_path(Path("/plain/path.json")) == "/plain/path.json"


@pytest.mark.trio
async def test_a_try_on_the_raw_samples_scores_as_one_on_the_source(
    pristine: Path, tmp_path: Path
) -> None:
    """The search decodes the source windows once, into raw samples; encoding and scoring
    those must give what encoding and scoring the windows of the source would."""
    ff, video = find_ffmpeg(), ENCODERS["h264"]
    raw = tmp_path / "samples.nut"
    await run_ffmpeg(
        samples_raw_argv(ff, pristine, WINDOWS, raw), 1.8, box=box((pristine,), (raw,))
    )
    from_source, from_raw = tmp_path / "source.mkv", tmp_path / "raw.mkv"
    await run_ffmpeg(
        sample_encode_argv(ff, pristine, WINDOWS, video, 30, from_source),
        1.8,
        box=box((pristine,), (from_source,)),
    )
    await run_ffmpeg(
        sample_encode_argv(ff, raw, (), video, 30, from_raw, own_format=RAW_SAMPLES_MUXER),
        1.8,
        box=box((raw,), (from_raw,)),
    )
    on_source = await score(
        from_source, pristine, Metric.VMAF, tmp_path / "a.json", windows=WINDOWS
    )
    on_raw = await score(from_raw, raw, Metric.VMAF, tmp_path / "b.json", src_format="nut")
    assert on_raw == pytest.approx(on_source, abs=0.01)
    assert 60 < on_raw < 99  # a real encode, not a copy
    assert from_raw.stat().st_size == pytest.approx(from_source.stat().st_size, rel=0.01)


@pytest.mark.trio
@pytest.mark.parametrize("metric", [Metric.VMAF, Metric.SSIM])
async def test_scoring_while_encoding_gives_the_score_of_the_file(
    pristine: Path, tmp_path: Path, metric: Metric
) -> None:
    ff = find_ffmpeg()
    caps = features_of(ff)
    assert caps.loopback_decoder  # the bundled FFmpeg (9) has `-dec`
    info = probe_media(pristine)
    plan = plan_compress(info, "h264", 93.0, caps)
    plan = replace(plan, target=QualityTarget.for_vmaf(93.0, metric))
    out = tmp_path / "out.mp4"
    log = tmp_path / "d.log"
    during = await encode_final(
        ff, pristine, info, plan, 30, out, 1 << 30, lambda p: None, LIMITS, ScoreAlong(log, 5)
    )
    assert during is not None
    after = await score(
        out, pristine, metric, tmp_path / "a.log", subsample=5, distorted_format="mp4"
    )
    assert during.value == pytest.approx(after, abs=1e-4)
    assert during.frames > 0 and not (tmp_path / "d.log").exists()


def test_frames_are_counted_in_the_raw_samples_not_taken_from_the_header(tmp_path: Path) -> None:
    # A header claiming 15 fps (tree.avi says 444 frames in 30 s; FFmpeg keeps 69).
    video = VideoInfo("cinepak", 321, 240, 15.0, None, "rgb24", None, 444)
    info = MediaInfo("avi", 30.0, 1_000_000, None, video, None)
    assert frame_bytes(info) == 320 * 240 * 3 // 2  # cropped to even, 4:2:0
    raw = tmp_path / "samples.nut"
    raw.write_bytes(b"\0" * (28 * frame_bytes(info) + 900))  # 28 frames + NUT headers
    assert decoded_fps(raw, info, 12.0) == pytest.approx(28 / 12)
    assert decoded_fps(tmp_path / "missing.nut", info, 12.0) is None
