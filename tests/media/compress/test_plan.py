"""Per-file decisions of the compress op, from a probe: encoder, preset, audio, metric."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.media.capabilities import FFmpegFeatures
from app.media.compress.metric import Metric, QualityTarget, ssim_to_db
from app.media.compress.plan import AudioAction, plan_audio, plan_compress
from app.media.probe import AudioInfo, MediaInfo, VideoInfo
from app.protocol.errors import ErrorCode, VcsError

FULL = FFmpegFeatures(
    encoders=frozenset({"libx264", "libx265", "libsvtav1", "aac", "libopus"}),
    filters=frozenset({"libvmaf", "ssim"}),
)
VIDEO_720P = VideoInfo("h264", 1280, 720, 30.0, 4_000_000, "yuv420p", None, 300)


def media(video: VideoInfo | None = VIDEO_720P, audio: AudioInfo | None = None) -> MediaInfo:
    return MediaInfo("mov,mp4", 10.0, 5_000_000, 4_000_000, video, audio)


def test_h264_by_default_with_the_medium_preset_and_vmaf() -> None:
    plan = plan_compress(media(), "h264", 93, FULL)
    assert (plan.video.encoder, plan.video.preset) == ("libx264", "medium")
    assert plan.target.metric is Metric.VMAF and plan.target.value == 93
    assert plan.media_type == "mp4"


def test_a_higher_target_starts_the_search_at_a_lower_crf() -> None:
    assert plan_compress(media(), "h264", 97, FULL).first_crf < 24
    assert plan_compress(media(), "h264", 85, FULL).first_crf > 24


def test_big_pixel_rates_get_a_faster_preset() -> None:
    uhd = replace(VIDEO_720P, width=3840, height=2160)
    assert plan_compress(media(uhd), "h264", 93, FULL).video.preset == "fast"
    assert plan_compress(media(uhd), "h265", 93, FULL).video.preset == "faster"
    assert plan_compress(media(uhd), "av1", 93, FULL).video.preset == "10"
    assert plan_compress(media(), "av1", 93, FULL).video.preset == "8"


def test_a_codec_this_ffmpeg_cannot_encode_is_refused_with_a_way_out() -> None:
    no_av1 = replace(FULL, encoders=FULL.encoders - {"libsvtav1"})
    with pytest.raises(VcsError) as caught:
        plan_compress(media(), "av1", 93, no_av1)
    assert caught.value.code is ErrorCode.BAD_PARAMS
    assert "libsvtav1" in caught.value.info.description
    assert "h264" in caught.value.info.solution


def test_without_libvmaf_the_target_becomes_ssim() -> None:
    debian = replace(FULL, filters=frozenset({"ssim"}))
    plan = plan_compress(media(), "h264", 93, debian)
    assert plan.target.metric is Metric.SSIM
    assert plan.target.value == pytest.approx(0.99)
    # More VMAF asked, more SSIM aimed at; in dB, 0.5 per VMAF point.
    higher = QualityTarget.for_vmaf(95, Metric.SSIM)
    assert higher.value > plan.target.value
    assert ssim_to_db(higher.value) - ssim_to_db(plan.target.value) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    ("codec", "audio", "action", "encoder", "bitrate"),
    [
        ("h264", AudioInfo("aac", 48000, 2, 128_000), AudioAction.COPY, None, None),
        ("h264", AudioInfo("aac", 48000, 2, 320_000), AudioAction.ENCODE, "aac", 128_000),
        ("h264", AudioInfo("ac3", 48000, 6, 448_000), AudioAction.ENCODE, "aac", 320_000),
        ("h264", AudioInfo("opus", 48000, 2, 96_000), AudioAction.ENCODE, "aac", 96_000),
        ("h264", AudioInfo("pcm_s16le", 44100, 1, 705_600), AudioAction.ENCODE, "aac", 64_000),
        ("h264", AudioInfo("mp3float", 44100, 2, 160_000), AudioAction.COPY, None, None),
        ("h264", AudioInfo("mp3", 44100, 2, None), AudioAction.ENCODE, "aac", 128_000),
        ("av1", AudioInfo("opus", 48000, 2, 96_000), AudioAction.COPY, None, None),
        ("av1", AudioInfo("flac", 48000, 2, 900_000), AudioAction.ENCODE, "libopus", 96_000),
        ("av1", AudioInfo("ac3", 48000, 6, 448_000), AudioAction.ENCODE, "aac", 320_000),
    ],
)
def test_audio_is_copied_when_efficient_else_encoded_never_above_its_bitrate(
    codec: str,
    audio: AudioInfo,
    action: AudioAction,
    encoder: str | None,
    bitrate: int | None,
) -> None:
    plan = plan_audio(audio, codec, FULL)
    assert (plan.action, plan.encoder, plan.bitrate) == (action, encoder, bitrate)
    if plan.bitrate is not None and audio.bit_rate is not None:
        assert plan.bitrate <= audio.bit_rate


def test_no_audio_track_means_no_audio_arguments() -> None:
    plan = plan_audio(None, "h264", FULL)
    assert plan.action is AudioAction.NONE and plan.args() == ["-an"]
