"""Deciding how to compress one input, from its probe: encoder, preset, audio, metric.

Pure: no FFmpeg runs here. The CRF itself is not decided here but searched for on
samples of the input (search_policy.py); this module gives the search its bounds, its
first guess and its prior for how fast quality falls as the CRF rises.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Final

from app.media.capabilities import FFmpegFeatures
from app.media.compress.metric import Metric, QualityTarget
from app.media.probe import AudioInfo, MediaInfo
from app.protocol.errors import ErrorCode, VcsError

# Pixel rate (width × height × fps) up to which the default presets run: 1080p30.
# Above it (4K, 1080p60) a faster preset keeps a 2-core server's jobs within reason.
FAST_PRESET_ABOVE_PX_S: Final = 1920 * 1080 * 30


class AudioAction(enum.StrEnum):
    NONE = "none"
    COPY = "copy"
    ENCODE = "encode"


@dataclass(frozen=True, slots=True)
class VideoEncoder:
    """One encoder and what the CRF search needs to know about its scale."""

    codec: str  # what the user asked for: h264, h265, av1
    encoder: str  # FFmpeg's encoder name
    preset: str
    crf_min: float
    crf_max: float
    crf_step: float  # x264/x265 take fractional CRFs, SVT-AV1 whole numbers
    # CRF giving VMAF ≈ 93 on typical footage, and VMAF points lost per CRF step near
    # there: only the search's first guess and first step, measured on every input.
    crf_at_93: float
    vmaf_per_crf: float
    fast_preset: str

    def video_args(self, crf: float, *, for_mp4: bool) -> list[str]:
        args = ["-c:v", self.encoder, "-preset", self.preset, "-crf", format_crf(crf)]
        if self.encoder == "libx265":
            args += ["-x265-params", "log-level=error"]
            if for_mp4:
                args += ["-tag:v", "hvc1"]  # Apple players want hvc1, FFmpeg writes hev1
        return args


ENCODERS: Final[dict[str, VideoEncoder]] = {
    "h264": VideoEncoder("h264", "libx264", "medium", 10, 42, 0.1, 24.0, 0.9, "fast"),
    "h265": VideoEncoder("h265", "libx265", "fast", 10, 42, 0.1, 26.0, 0.9, "faster"),
    "av1": VideoEncoder("av1", "libsvtav1", "8", 10, 60, 1, 36.0, 0.6, "10"),
}


def format_crf(crf: float) -> str:
    return f"{crf:.1f}".removesuffix(".0")


@dataclass(frozen=True, slots=True)
class AudioPlan:
    action: AudioAction
    encoder: str | None = None
    bitrate: int | None = None  # bits per second, when encoding
    source_codec: str | None = None

    def args(self) -> list[str]:
        if self.action is AudioAction.NONE:
            return ["-an"]
        if self.action is AudioAction.COPY:
            return ["-c:a", "copy"]
        assert self.encoder is not None and self.bitrate is not None
        return ["-c:a", self.encoder, "-b:a", f"{self.bitrate // 1000}k"]

    def describe(self) -> str:
        if self.action is AudioAction.ENCODE:
            name = "opus" if self.encoder == "libopus" else str(self.encoder)
            return f"{name} {(self.bitrate or 0) // 1000} kb/s"
        if self.action is AudioAction.COPY:
            return f"{self.source_codec} (copied)"
        return "none"


# Audio bitrates per channel for re-encoding; Opus is transparent at lower rates than
# AAC (≈96 vs 128 kb/s for stereo music).
AAC_PER_CHANNEL_BPS: Final = 64_000
OPUS_PER_CHANNEL_BPS: Final = 48_000
MAX_AUDIO_BPS: Final = 320_000
MIN_AUDIO_BPS: Final = 32_000
# A source track already in an efficient codec at no more than this per channel is
# copied: re-encoding it would lose quality and save little.
COPY_PER_CHANNEL_BPS: Final = 96_000
COPYABLE: Final[dict[str, frozenset[str]]] = {
    # H.264/H.265 results aim at every player: AAC or MP3 in MP4. AV1 ones are for
    # modern players, which all take Opus in MP4 too.
    "h264": frozenset({"aac", "mp3"}),
    "h265": frozenset({"aac", "mp3"}),
    "av1": frozenset({"aac", "mp3", "opus"}),
}


def codec_name(decoder: str) -> str:
    """FFmpeg's name of the codec a decoder reads (the probe names decoders: `mp3float`
    is mp3, `libdav1d` is av1)."""
    import av  # PyAV's codec table; loaded already by the probe

    try:
        return str(av.codec.Codec(decoder, "r").canonical_name)
    except ValueError:  # not a decoder name PyAV knows: keep it
        return decoder


def plan_audio(audio: AudioInfo | None, codec: str, caps: FFmpegFeatures) -> AudioPlan:
    if audio is None:
        return AudioPlan(AudioAction.NONE)
    channels = audio.channels if audio.channels > 0 else 2
    source_codec = codec_name(audio.codec)
    if (
        source_codec in COPYABLE[codec]
        and audio.bit_rate is not None
        and audio.bit_rate <= COPY_PER_CHANNEL_BPS * channels
    ):
        return AudioPlan(AudioAction.COPY, source_codec=source_codec)
    use_opus = codec == "av1" and channels <= 2 and caps.has_encoder("libopus")
    per_channel = OPUS_PER_CHANNEL_BPS if use_opus else AAC_PER_CHANNEL_BPS
    bitrate = min(MAX_AUDIO_BPS, per_channel * min(channels, 6))
    if audio.bit_rate is not None:
        # Never spend more bits than the source had: that only makes the file bigger.
        bitrate = min(bitrate, audio.bit_rate)
    bitrate = max(MIN_AUDIO_BPS, bitrate // 1000 * 1000)
    return AudioPlan(
        AudioAction.ENCODE,
        encoder="libopus" if use_opus else "aac",
        bitrate=bitrate,
        source_codec=source_codec,
    )


@dataclass(frozen=True, slots=True)
class CompressPlan:
    video: VideoEncoder
    audio: AudioPlan
    target: QualityTarget
    media_type: str = "mp4"

    @property
    def first_crf(self) -> float:
        """The search's first try: the typical CRF for VMAF 93, moved by the target."""
        guess = self.video.crf_at_93 - (self.target.vmaf - 93.0) / self.video.vmaf_per_crf
        return min(self.video.crf_max, max(self.video.crf_min, round(guess)))


def codec_unavailable(codec: str, encoder: str) -> VcsError:
    return VcsError(
        ErrorCode.BAD_PARAMS,
        f"This server's FFmpeg has no {encoder} encoder, so it cannot make {codec} files.",
        "Ask for codec h264 (always available), or ask the operator for an FFmpeg "
        f"build with {encoder}.",
    )


def plan_compress(
    info: MediaInfo, codec: str, target_vmaf: float, caps: FFmpegFeatures
) -> CompressPlan:
    """Per file (SPEC §4): the encoder and preset from codec and pixel rate, the audio
    from its codec and bitrate, the metric from what this FFmpeg measures."""
    video = ENCODERS[codec]
    if not caps.has_encoder(video.encoder):
        raise codec_unavailable(codec, video.encoder)
    if info.video is not None:
        px_s = info.video.width * info.video.height * (info.video.fps or 30.0)
        if px_s > FAST_PRESET_ABOVE_PX_S:
            video = replace(video, preset=video.fast_preset)
    metric = Metric.VMAF if caps.has_filter("libvmaf") else Metric.SSIM
    return CompressPlan(
        video=video,
        audio=plan_audio(info.audio, codec, caps),
        target=QualityTarget.for_vmaf(target_vmaf, metric),
    )
