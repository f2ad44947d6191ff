"""The FFmpeg argument lists of the media ops: pure functions, checked as lists."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.media.argv import (
    OutputSpec,
    Span,
    aspect_argv,
    convert_argv,
    encoders_in,
    gif_argv,
    gif_palette_argv,
    limit_size,
    mp3_argv,
    resize_argv,
    webm_argv,
)
from app.media.capabilities import MuxerDetails
from app.media.containers import KNOWN_RULES, plan_streams, rule_for
from app.media.demuxers import FORMAT_WHITELIST, check_input_args
from app.media.geometry import AspectMode, Size, aspect_plan
from app.media.probe import AudioInfo, MediaInfo, VideoInfo

SRC = Path("/in/upload.bin")
OUT = Path("/out/result.part")


def media(
    video_codec: str | None = "h264",
    audio_codecs: tuple[str, ...] = ("aac",),
    size: tuple[int, int] = (320, 240),
    channels: int = 2,
) -> MediaInfo:
    video = (
        VideoInfo(video_codec, *size, 25.0, None, "yuv420p", None, None, video_codec)
        if video_codec
        else None
    )
    audio = AudioInfo(audio_codecs[0], 48000, channels, None) if audio_codecs else None
    return MediaInfo(
        format_name="test",
        duration_s=3.0,
        size_bytes=1000,
        bit_rate=None,
        video=video,
        audio=audio,
        audio_streams=len(audio_codecs),
        video_streams=1 if video else 0,
        audio_codecs=audio_codecs,
    )


def after(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def test_resize_scales_to_square_pixels_and_copies_mp4_audio() -> None:
    argv = resize_argv("ffmpeg", SRC, OutputSpec(OUT, "mp4"), media(), Size(160, 120))
    assert argv[0] == "ffmpeg" and after(argv, "-i") == str(SRC)
    assert after(argv, "-filter:v:0") == "scale=160:120:flags=lanczos,setsar=1"
    assert after(argv, "-c:v:0") == "libx264" and after(argv, "-c:a:0") == "copy"
    assert argv[-3:] == ["-f", "mp4", str(OUT)]


def test_resize_encodes_audio_mp4_cannot_hold() -> None:
    argv = resize_argv(
        "ffmpeg", SRC, OutputSpec(OUT, "mp4"), media(audio_codecs=("pcm_s16le",)), Size(160, 120)
    )
    assert after(argv, "-c:a:0") == "aac"


@pytest.mark.parametrize(
    ("mode", "shape_filter"),
    [
        (AspectMode.PAD, "pad=426:240:52:0:color=black"),
        (AspectMode.CROP, "crop=320:180:0:30"),
        (AspectMode.STRETCH, "scale=426:240"),
    ],
)
def test_aspect_filters_end_in_an_exact_display_ratio(mode, shape_filter) -> None:
    info = media()
    assert info.video is not None
    plan = aspect_plan(info.video, Fraction(16, 9), mode)
    argv = aspect_argv("ffmpeg", SRC, OutputSpec(OUT, "mp4"), info, plan)
    assert after(argv, "-filter:v:0") == f"{shape_filter},setdar=16/9"


def test_mp3_takes_the_first_audio_track_at_the_asked_bitrate() -> None:
    argv = mp3_argv("ffmpeg", SRC, OutputSpec(OUT, "mp3"), media(channels=6), 192)
    assert after(argv, "-map") == "0:a:0" and "-vn" in argv
    assert after(argv, "-c:a") == "libmp3lame" and after(argv, "-b:a") == "192k"
    assert after(argv, "-ac") == "2"  # 5.1 is folded to stereo
    vbr = mp3_argv("ffmpeg", SRC, OutputSpec(OUT, "mp3"), media(), None)
    assert "-b:a" not in vbr and after(vbr, "-q:a") == "2" and "-ac" not in vbr


def test_gif_makes_a_palette_first_then_streams_through_it() -> None:
    palette = Path("/tmp/palette.part")
    first = gif_palette_argv("ffmpeg", SRC, palette, Span(1.5, 4.0), Size(240, 180), 12.5)
    # Seek and duration are input options: they come before -i.
    assert first.index("-ss") < first.index("-i") and first.index("-t") < first.index("-i")
    assert (after(first, "-ss"), after(first, "-t")) == ("1.500", "2.500")
    chain = after(first, "-filter:v")
    assert "fps=10," in chain and "scale=240:180" in chain  # sampled frames, GIF's size
    assert chain.endswith("palettegen=stats_mode=diff") and first[-1] == str(palette)
    assert after(first, "-frames:v") == "1" and after(first, "-f") == "nut"
    argv = gif_argv(
        "ffmpeg", SRC, palette, OutputSpec(OUT, "gif"), Span(1.5, 4.0), Size(240, 180), 12.5
    )
    assert (after(argv, "-ss"), after(argv, "-t")) == ("1.500", "2.500")
    # The palette is a second input, read as the one format we wrote it in.
    second_input = [i for i, a in enumerate(argv) if a == "-i"][1]
    assert argv[second_input + 1] == str(palette)
    assert argv[second_input - 6 : second_input] == [
        *("-f", "nut", "-format_whitelist", "nut", "-protocol_whitelist", "file"),
    ]
    graph = after(argv, "-filter_complex")
    assert "fps=12.5," in graph and "scale=240:180" in graph
    # No split and no palettegen here: nothing holds frames back.
    assert "palettegen" not in graph and "split" not in graph and "[1:v]paletteuse" in graph
    assert after(argv, "-map") == "[gif]" and after(argv, "-loop") == "0"


def test_webm_is_vp9_with_opus_only_when_there_is_sound() -> None:
    span = Span(0, 2)
    argv = webm_argv("ffmpeg", SRC, OutputSpec(OUT, "webm"), media(), span, Size(320, 240))
    assert after(argv, "-c:v") == "libvpx-vp9" and after(argv, "-row-mt:v") == "1"
    assert after(argv, "-c:a") == "libopus"
    silent = webm_argv(
        "ffmpeg", SRC, OutputSpec(OUT, "webm"), media(audio_codecs=()), span, Size(320, 240)
    )
    assert "-c:a" not in silent and "0:a:0" not in silent


def convert(muxer: str, info: MediaInfo) -> list[str]:
    rule = rule_for(MuxerDetails(muxer, (), None, None))
    return convert_argv("ffmpeg", SRC, OutputSpec(OUT, muxer), plan_streams(rule, info), rule)


def test_convert_copies_what_the_container_holds() -> None:
    argv = convert("matroska", media(audio_codecs=("aac", "opus")))
    assert argv.count("copy") == 3 and encoders_in(argv) == []
    assert argv[argv.index("-map") : argv.index("-map") + 6] == [
        "-map",
        "0:v:0",
        "-map",
        "0:a:0",
        "-map",
        "0:a:1",
    ]


def test_convert_to_avi_swaps_aac_for_mp3_and_fixes_h264_start_codes() -> None:
    argv = convert("avi", media())
    assert after(argv, "-c:v:0") == "copy" and after(argv, "-bsf:v:0") == "h264_mp4toannexb"
    assert after(argv, "-c:a:0") == "libmp3lame"


def test_convert_to_webm_reencodes_everything_else() -> None:
    argv = convert("webm", media(audio_codecs=("aac", "vorbis")))
    assert encoders_in(argv) == ["libvpx-vp9", "libopus"]
    assert after(argv, "-c:a:1") == "copy"


def test_hevc_copied_into_mp4_is_tagged_for_apple_players() -> None:
    argv = convert("mp4", media(video_codec="hevc"))
    assert after(argv, "-c:v:0") == "copy" and after(argv, "-tag:v:0") == "hvc1"


def test_unknown_muxers_copy_their_default_codec_and_encode_to_it() -> None:
    nut = MuxerDetails("nut", ("nut",), "mpeg4", "vorbis")
    plans = plan_streams(rule_for(nut), media(video_codec="mpeg4"))
    assert [(p.codec, p.encoder.name if p.encoder else None) for p in plans] == [
        ("mpeg4", None),
        ("aac", "libvorbis"),
    ]
    # An audio container's "video" default is cover art: video is left out.
    mp3 = MuxerDetails("mp3", ("mp3",), "png", "mp3")
    assert [p.kind for p in plan_streams(rule_for(mp3), media())] == ["a"]


def test_limit_size_goes_just_before_the_output() -> None:
    argv = limit_size(["ffmpeg", "-i", "x", "-f", "mp4", "out"], 1000)
    assert argv[-3:] == ["-fs", "1000", "out"]


@given(
    muxer=st.sampled_from(sorted(KNOWN_RULES)),
    video=st.sampled_from(["h264", "hevc", "vp9", "av1", "mpeg4", "theora", "prores", None]),
    audio=st.lists(
        st.sampled_from(["aac", "mp3", "opus", "vorbis", "flac", "pcm_s16le"]), max_size=3
    ),
)
def test_every_convert_maps_each_output_stream_once_with_one_codec(muxer, video, audio) -> None:
    if video is None and not audio:
        return
    argv = convert(muxer, media(video_codec=video, audio_codecs=tuple(audio)))
    maps = [after(argv[i:], "-map") for i, a in enumerate(argv) if a == "-map"]
    codecs = [a for a in argv if a.startswith("-c:")]
    assert len(maps) == len(codecs) == len(set(codecs)) == (video is not None) + len(audio)
    assert all(isinstance(a, str) for a in argv) and argv[-1] == str(OUT)


def test_every_builder_opens_the_upload_with_the_allowlist() -> None:
    """Each op's FFmpeg reads the upload as a self-contained file only (security.md)."""
    mkv = rule_for(MuxerDetails("matroska", ("mkv",), "h264", "vorbis"))
    info = media()
    assert info.video is not None
    span, size = Span(0, 2), Size(160, 120)
    palette = Path("/out/palette.part")
    pad = aspect_plan(info.video, Fraction(16, 9), AspectMode.PAD)
    builders = [
        resize_argv("ffmpeg", SRC, OutputSpec(OUT, "mp4"), info, size),
        aspect_argv("ffmpeg", SRC, OutputSpec(OUT, "mp4"), info, pad),
        mp3_argv("ffmpeg", SRC, OutputSpec(OUT, "mp3"), info, None),
        gif_palette_argv("ffmpeg", SRC, palette, span, size, 12),
        gif_argv("ffmpeg", SRC, palette, OutputSpec(OUT, "gif"), span, size, 12),
        webm_argv("ffmpeg", SRC, OutputSpec(OUT, "webm"), info, span, size),
        convert_argv("ffmpeg", SRC, OutputSpec(OUT, "matroska"), plan_streams(mkv, info), mkv),
    ]
    for argv in builders:
        check_input_args(argv)
        upload = argv.index(str(SRC))
        allowed = argv[argv.index("-format_whitelist", upload - 8) + 1]
        assert allowed == FORMAT_WHITELIST and "hls" not in allowed.split(",")
        assert after(argv, "-protocol_whitelist") == "file"
