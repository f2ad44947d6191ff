"""The probe out of process: refusals with their own codes, caps before decoding, kill."""

from __future__ import annotations

import json
import os
import resource
from fractions import Fraction
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from app.media.limits import MAX_FRAME_PIXELS, MediaLimits, check_decoded_frames, check_frames
from app.media.media_info import (
    AudioInfo,
    MediaInfo,
    VideoInfo,
    media_info_from_json,
    media_info_to_json,
)
from app.media.upload_probe import keyframes_near, probe_upload
from app.protocol.errors import ErrorCode, VcsError
from tests.media_files import make_clip
from tests.server_process import wait_for
from tests.support.hostile_media import (
    Secret,
    dash_manifest,
    ffconcat,
    gif_bomb,
    hls_live,
    hls_vod,
    png_bomb,
)


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Secret:
    return Secret.make(tmp_path_factory.mktemp("elsewhere"))


async def refusal(path: Path, limits: MediaLimits | None = None) -> VcsError:
    with pytest.raises(VcsError) as caught:
        await probe_upload(path, limits or MediaLimits())
    return caught.value


def own_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.trio
async def test_a_clip_is_described(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "upload", seconds=1, size="320x240", extra=("-f", "matroska"))
    info = await probe_upload(clip)
    assert info.format_name.startswith("matroska")
    assert info.video is not None and (info.video.width, info.video.height) == (320, 240)
    assert info.audio is not None and info.size_bytes == clip.stat().st_size


@pytest.mark.trio
@pytest.mark.parametrize(
    ("make", "named"),
    [
        (hls_vod, "an HLS playlist"),
        (hls_live, "an HLS playlist"),
        (dash_manifest, "manifest"),
        (ffconcat, "an FFmpeg concat list"),
    ],
)
async def test_files_that_name_other_files_are_refused_with_their_own_code(
    secret: Secret, tmp_path: Path, make, named: str
) -> None:
    # The extension each format wants, the worst case: FFmpeg then picks it first.
    upload = tmp_path / {"hls_vod": "u.m3u8", "hls_live": "u.m3u8"}.get(make.__name__, "u.mpd")
    upload.write_bytes(make(secret.path))
    error = await refusal(upload)
    assert error.code is ErrorCode.FORMAT_NOT_ALLOWED
    assert named in error.info.description
    assert "docs/security.md" in error.info.solution


@pytest.mark.trio
async def test_an_image2_pattern_is_not_followed(secret: Secret, tmp_path: Path) -> None:
    """A name FFmpeg would read as a numbered series (img-001.png, ...)."""
    series = tmp_path / "img-001.png"
    series.write_bytes(png_bomb(tmp_path / "first.png", 32, 32).read_bytes())
    pattern = tmp_path / "img-%03d.png"
    pattern.write_bytes(series.read_bytes())
    error = await refusal(pattern)
    assert error.code is ErrorCode.FORMAT_NOT_ALLOWED


@pytest.mark.trio
async def test_bombs_are_refused_from_the_header_without_decoding_here(tmp_path: Path) -> None:
    before = own_peak_rss_mb()
    png = await refusal(png_bomb(tmp_path / "png"))
    gif = await refusal(gif_bomb(tmp_path / "gif"))
    for error, size in ((png, "16000x16000"), (gif, "8000x8000")):
        assert error.code is ErrorCode.MEDIA_TOO_LARGE
        assert size in error.info.description and "8192" in error.info.description
    # Decoding the PNG alone takes 768 MB; none of it happened in this process.
    assert own_peak_rss_mb() < before + 50


@pytest.mark.trio
async def test_a_probe_that_never_ends_is_stopped_at_its_wall_time(tmp_path: Path) -> None:
    fifo = tmp_path / "stuck"
    os.mkfifo(fifo)  # a reader waits forever for a writer, as on a live playlist
    error = await refusal(fifo, MediaLimits(probe_wall_s=1.0))
    assert error.code is ErrorCode.UNREADABLE_MEDIA
    assert "did not finish within 1 s" in error.info.description
    assert wait_for(lambda: not _probing(fifo))


@pytest.mark.trio
async def test_cancelling_the_caller_kills_the_probe(tmp_path: Path) -> None:
    fifo = tmp_path / "stuck"
    os.mkfifo(fifo)
    with trio.move_on_after(30) as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe_upload, fifo)
            with trio.fail_after(20):
                while not _probing(fifo):  # noqa: ASYNC110 (polling another process)
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert wait_for(lambda: not _probing(fifo))


def _probing(path: Path) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"app.media.probe_process" in argv and str(path).encode() in argv:
            return True
    return False


@pytest.mark.trio
async def test_keyframes_are_found_in_the_probe_process(tmp_path: Path) -> None:
    clip = make_clip(
        tmp_path / "upload",
        seconds=4,
        size="160x120",
        audio=False,
        video_args=("-c:v", "libx264", "-preset", "ultrafast", "-g", "25"),
        extra=("-f", "mp4"),
    )
    assert await keyframes_near(clip, [1.5, 3.2]) == [1.0, 3.0]
    stuck = tmp_path / "stuck"
    stuck.write_bytes(b"not media")
    assert await keyframes_near(stuck, [1.0]) == [None]


def test_caps_refuse_big_frames_and_rates_and_allow_8k() -> None:
    def media(width: int, height: int, fps: float = 30.0, frames: int | None = None) -> MediaInfo:
        video = VideoInfo("h264", width, height, fps, None, None, None, frames)
        return MediaInfo("mov", 10.0, 1000, None, video, None)

    for ok in ((7680, 4320), (4320, 7680), (8192, 4320)):
        check_frames(media(*ok))
    for too_big in ((8193, 16), (8000, 8000), (16000, 16000)):
        with pytest.raises(VcsError) as caught:
            check_frames(media(*too_big))
        assert caught.value.code is ErrorCode.MEDIA_TOO_LARGE
    assert MAX_FRAME_PIXELS == 8192 * 4320
    with pytest.raises(VcsError):
        check_frames(media(640, 480, fps=1000.0))
    limits = MediaLimits(max_decoded_frames=300)
    check_decoded_frames(media(640, 480), 10.0, limits)  # 300 frames
    with pytest.raises(VcsError) as caught:
        check_decoded_frames(media(640, 480), 11.0, limits)
    assert "--max-decoded-frames" in caught.value.info.solution
    # A header that understates the rate: the frame count wins.
    with pytest.raises(VcsError):
        check_decoded_frames(media(640, 480, fps=1.0, frames=5000), 10.0, limits)


INFO = MediaInfo(
    "mov,mp4",
    12.5,
    1234,
    800_000,
    VideoInfo("h264", 1920, 1080, 29.97, 700_000, "yuv420p", Fraction(16, 9), 375, "h264"),
    AudioInfo("aac", 48000, 2, 128_000),
    audio_streams=2,
    video_streams=1,
    audio_codecs=("aac", "opus"),
)


def test_media_info_survives_its_json_form() -> None:
    doc = json.loads(json.dumps(media_info_to_json(INFO)))
    assert media_info_from_json(doc) == INFO


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.just(media_info_to_json(INFO)),
    key=st.sampled_from(sorted(media_info_to_json(INFO))),
    value=json_values,
)
def test_a_probe_answer_is_read_strictly(base: dict, key: str, value: object) -> None:
    """Whatever a (compromised) probe prints, it is a MediaInfo or a ValueError."""
    doc = {**base, key: value}
    try:
        info = media_info_from_json(doc)
    except ValueError:
        return
    assert isinstance(info, MediaInfo) and info.duration_s >= 0
