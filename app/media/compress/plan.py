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
from app.media.colour import UNTAGGED
from app.media.colour_args import HDR_PIXEL_FORMAT, SDR_PIXEL_FORMAT, tonemap_to_sdr
from app.media.compress.metric import Metric, QualityTarget
from app.media.compress.picture import PLAIN_PICTURE, SourcePicture, source_picture
from app.media.containers import Encoder
from app.media.probe import AudioInfo, MediaInfo
from app.media.stream_info import StreamInfo
from app.media.stream_plan import (
    MP4_RESULT,
    NO_STREAMS,
    Fate,
    StreamDecision,
    StreamPlan,
    VideoResult,
    plan_output_streams,
    video_result_for,
)
from app.media.video_treatment import VideoTreatment, params_args, treat_video
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
    # Headers that do not depend on the content or the CRF, so that separately encoded
    # chunks join under one set of parameter sets (x264's `stitchable`; x265 without its
    # settings SEI, which names the CRF). SVT-AV1's sequence header does not vary.
    stitchable: bool = False

    def video_args(
        self, crf: float, *, for_mp4: bool, treatment: VideoTreatment | None = None
    ) -> list[str]:
        """The encoder's options; `treatment` adds the bit depth, colour tags and HDR
        metadata (video_treatment.py)."""
        args = ["-c:v", self.encoder, "-preset", self.preset, "-crf", format_crf(crf)]
        if treatment is not None:
            for option, value in treatment.encoder.options:
                args += [f"-{option}:v", value]
        own: tuple[str, ...] = ()
        if self.encoder == "libx265":
            own = ("log-level=error", "info=0") if self.stitchable else ("log-level=error",)
        elif self.encoder == "libx264" and self.stitchable:
            args += ["-x264-params", "stitchable=1"]
        if treatment is not None:
            args += params_args(treatment, "v", own)
        elif own:
            args += ["-x265-params", ":".join(own)]
        if self.encoder == "libx265" and for_mp4:
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
    return plan_audio_track(codec_name(audio.codec), audio.channels, audio.bit_rate, codec, caps)


def plan_audio_track(
    source_codec: str, channels: int, bit_rate: int | None, codec: str, caps: FFmpegFeatures
) -> AudioPlan:
    """One track: copied when already efficient, else re-encoded at a rate for its
    channels (never above its own)."""
    channels = channels if channels > 0 else 2
    if (
        source_codec in COPYABLE[codec]
        and bit_rate is not None
        and bit_rate <= COPY_PER_CHANNEL_BPS * channels
    ):
        return AudioPlan(AudioAction.COPY, source_codec=source_codec)
    use_opus = codec == "av1" and channels <= 2 and caps.has_encoder("libopus")
    per_channel = OPUS_PER_CHANNEL_BPS if use_opus else AAC_PER_CHANNEL_BPS
    bitrate = min(MAX_AUDIO_BPS, per_channel * min(channels, 6))
    if bit_rate is not None:
        # Never spend more bits than the source had: that only makes the file bigger.
        bitrate = min(bitrate, bit_rate)
    bitrate = max(MIN_AUDIO_BPS, bitrate // 1000 * 1000)
    return AudioPlan(
        AudioAction.ENCODE,
        encoder="libopus" if use_opus else "aac",
        bitrate=bitrate,
        source_codec=source_codec,
    )


def audio_decision(stream: StreamInfo, plan: AudioPlan) -> StreamDecision:
    if plan.action is AudioAction.COPY:
        return StreamDecision(stream, Fate.COPIED)
    assert plan.encoder is not None and plan.bitrate is not None
    encoder = Encoder(plan.encoder, (("b", f"{plan.bitrate // 1000}k"),))
    return StreamDecision(stream, Fate.ENCODED, encoder, f"re-encoded: {plan.describe()}")


@dataclass(frozen=True, slots=True)
class CompressPlan:
    video: VideoEncoder
    audio: AudioPlan  # the main track's (its description heads the report)
    target: QualityTarget
    media_type: str = "mp4"
    result: VideoResult = MP4_RESULT
    streams: StreamPlan = NO_STREAMS
    treatment: VideoTreatment | None = None
    picture: SourcePicture = PLAIN_PICTURE
    # Bits per second of all audio tracks in the result (copied ones at their own rate).
    audio_bps: int = 0

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


def default_codec(info: MediaInfo) -> str:
    """H.264 plays everywhere; HDR input gets HEVC, which keeps HDR (docs/operations.md)."""
    return "h265" if info.video is not None and info.video.colour.is_hdr else "h264"


def plan_compress(
    info: MediaInfo, codec: str | None, target_vmaf: float, caps: FFmpegFeatures
) -> CompressPlan:
    """Per file (docs/compression.md): the encoder and preset from codec and pixel rate, the audio
    from each track's codec and bitrate, the metric from what this FFmpeg measures; HDR
    kept (h265, av1) or tone-mapped (h264); every stream kept as the container allows."""
    codec = codec or default_codec(info)
    video = ENCODERS[codec]
    if not caps.has_encoder(video.encoder):
        raise codec_unavailable(codec, video.encoder)
    colour = info.video.colour if info.video is not None else UNTAGGED
    if info.video is not None:
        px_s = info.video.width * info.video.height * (info.video.fps or 30.0)
        if px_s > FAST_PRESET_ABOVE_PX_S:
            video = replace(video, preset=video.fast_preset)
    treatment = treat_video(colour, Encoder(video.encoder))
    kept_hdr = treatment.hdr == "kept"
    picture = source_picture(
        info.video.index if info.video is not None else 0,
        HDR_PIXEL_FORMAT if kept_hdr else SDR_PIXEL_FORMAT,
        treatment.tonemap,
        tonemap_to_sdr(colour) if kept_hdr else "",
    )
    tracks = {
        s.index: plan_audio_track(s.codec, s.channels, s.bit_rate, codec, caps)
        for s in info.streams
        if s.kind == "audio"
    }
    result = video_result_for(info.streams)
    streams = plan_output_streams(
        info,
        result.rule,
        result.container,
        lambda s: StreamDecision(s, Fate.ENCODED, treatment.encoder, "compressed"),
        lambda s: audio_decision(s, tracks[s.index]),
    )
    audio_bps = sum(
        (p.bitrate or 0) if p.action is AudioAction.ENCODE else (bit_rate_of(info, i) or 0)
        for i, p in tracks.items()
    )
    metric = Metric.VMAF if caps.has_filter("libvmaf") else Metric.SSIM
    return CompressPlan(
        video=video,
        audio=plan_audio(info.audio, codec, caps),
        target=QualityTarget.for_vmaf(target_vmaf, metric),
        media_type=result.media_type,
        result=result,
        streams=streams,
        treatment=treatment,
        picture=picture,
        audio_bps=audio_bps,
    )


def bit_rate_of(info: MediaInfo, index: int) -> int | None:
    return next((s.bit_rate for s in info.streams if s.index == index), None)
