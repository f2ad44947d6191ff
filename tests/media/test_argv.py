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
    aspect_chain,
    convert_argv,
    encoders_in,
    gif_argv,
    gif_palette_argv,
    limit_size,
    mp3_argv,
    resize_chain,
    video_result_argv,
    webm_argv,
)
from app.media.capabilities import MuxerDetails
from app.media.colour import UNTAGGED, ColourInfo, ContentLight, MasteringDisplay
from app.media.containers import KNOWN_RULES, OPUS, VP9, WEBM_RULE, rule_for
from app.media.demuxers import FORMAT_WHITELIST, check_input_args
from app.media.geometry import AspectMode, Size, aspect_plan
from app.media.orientation import UPRIGHT, Orientation
from app.media.probe import AudioInfo, MediaInfo, VideoInfo
from app.media.stream_info import StreamInfo
from app.media.stream_plan import Fate, StreamDecision, plan_output_streams, plan_video_result
from app.media.video_treatment import treat_video
from app.server.ops.convert import plan_convert

SRC = Path("/in/upload.bin")
OUT = Path("/out/result.part")
HDR10 = ColourInfo(
    "bt2020",
    "smpte2084",
    "bt2020nc",
    "tv",
    10,
    MasteringDisplay((0.68, 0.32), (0.265, 0.69), (0.15, 0.06), (0.3127, 0.329), 0.0001, 1000),
    ContentLight(1000, 400),
)


def media(
    video_codec: str | None = "h264",
    audio_codecs: tuple[str, ...] = ("aac",),
    size: tuple[int, int] = (320, 240),
    channels: int = 2,
    subtitles: tuple[str, ...] = (),
    attachments: int = 0,
    colour: ColourInfo = UNTAGGED,
    orientation: Orientation = UPRIGHT,
) -> MediaInfo:
    streams: list[StreamInfo] = []
    if video_codec:
        streams.append(StreamInfo(0, "video", video_codec, width=size[0], height=size[1]))
    for codec in audio_codecs:
        streams.append(StreamInfo(len(streams), "audio", codec, channels=channels))
    for codec in subtitles:
        streams.append(StreamInfo(len(streams), "subtitle", codec, language="eng"))
    for n in range(attachments):
        streams.append(StreamInfo(len(streams), "attachment", "ttf", filename=f"f{n}.ttf"))
    video = (
        VideoInfo(
            video_codec,
            *size,
            25.0,
            None,
            "yuv420p",
            None,
            None,
            video_codec,
            orientation=orientation,
            colour=colour,
        )
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
        streams=tuple(streams),
    )


def video_op(info: MediaInfo, chain: str) -> list[str]:
    result, plan, treatment = plan_video_result(info, "test")
    return video_result_argv(
        "ffmpeg", SRC, OutputSpec(OUT, result.muxer), plan, result.rule, treatment, chain
    )


def after(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def test_resize_scales_to_square_pixels_and_copies_mp4_audio() -> None:
    argv = video_op(media(), resize_chain(Size(160, 120)))
    assert argv[0] == "ffmpeg" and after(argv, "-i") == str(SRC)
    assert after(argv, "-filter:0") == "scale=160:120:flags=lanczos,setsar=1"
    assert after(argv, "-c:0") == "libx264" and after(argv, "-c:1") == "copy"
    assert after(argv, "-map_chapters") == "0" and after(argv, "-map_metadata") == "0"
    assert argv[-3:] == ["-f", "mp4", str(OUT)]


def test_resize_encodes_audio_mp4_cannot_hold() -> None:
    argv = video_op(media(audio_codecs=("pcm_s16le",)), resize_chain(Size(160, 120)))
    assert after(argv, "-c:1") == "aac"


def test_every_audio_and_text_subtitle_is_mapped_with_mov_text_for_mp4() -> None:
    info = media(audio_codecs=("aac", "opus", "flac"), subtitles=("subrip", "ass"))
    argv = video_op(info, resize_chain(Size(160, 120)))
    maps = [argv[i + 1] for i, a in enumerate(argv) if a == "-map"]
    assert maps == ["0:0", "0:1", "0:2", "0:3", "0:4", "0:5"]
    assert [after(argv, f"-c:{n}") for n in range(1, 6)] == [
        *("copy", "copy", "copy"),
        *("mov_text", "mov_text"),
    ]


def test_picture_subtitles_or_fonts_make_the_result_mkv_and_keep_them() -> None:
    info = media(subtitles=("subrip", "hdmv_pgs_subtitle"), attachments=1)
    result, plan, _ = plan_video_result(info, "test")
    assert result.muxer == "matroska" and "MP4 cannot hold" in (result.reason or "")
    argv = video_op(info, "null")
    assert argv[-3:] == ["-f", "matroska", str(OUT)]
    assert [after(argv, f"-c:{n}") for n in (2, 3, 4)] == ["copy", "copy", "copy"]
    assert all(d.kept for d in plan.decisions)


def test_hdr10_is_kept_in_10_bit_hevc_with_its_metadata() -> None:
    argv = video_op(media(colour=HDR10), resize_chain(Size(160, 120)))
    assert after(argv, "-c:0") == "libx265" and after(argv, "-pix_fmt:0") == "yuv420p10le"
    assert after(argv, "-color_trc:0") == "smpte2084"
    params = after(argv, "-x265-params:0")
    assert "master-display=G(13250,34500)B(7500,3000)R(34000,16000)" in params
    assert "WP(15635,16450)L(10000000,1)" in params and "max-cll=1000,400" in params
    assert "zscale" not in after(argv, "-filter:0")


def test_hdr_into_an_sdr_only_encoder_is_tone_mapped() -> None:
    treatment = treat_video(HDR10, VP9, keep_hdr=False)
    assert treatment.hdr == "tone-mapped" and "tonemap=tonemap=hable" in treatment.tonemap
    assert dict(treatment.encoder.options)["pix_fmt"] == "yuv420p"
    assert dict(treatment.encoder.options)["color_trc"] == "bt709"
    kept = treat_video(HDR10, VP9)
    assert dict(kept.encoder.options)["profile"] == "2" and kept.tonemap == ""


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
    argv = video_op(info, aspect_chain(plan))
    assert after(argv, "-filter:0") == f"{shape_filter},setdar=16/9"


def test_mp3_takes_one_audio_track_at_the_asked_bitrate() -> None:
    argv = mp3_argv("ffmpeg", SRC, OutputSpec(OUT, "mp3"), 2, 6, 192)
    assert after(argv, "-map") == "0:2"
    assert after(argv, "-c:a") == "libmp3lame" and after(argv, "-b:a") == "192k"
    assert after(argv, "-ac") == "2"  # 5.1 is folded to stereo
    vbr = mp3_argv("ffmpeg", SRC, OutputSpec(OUT, "mp3"), 1, 2, None)
    assert "-b:a" not in vbr and after(vbr, "-q:a") == "2" and "-ac" not in vbr


PALETTE = Path("/tmp/palette.part")


def gif_passes(**picture: object) -> tuple[list[str], list[str]]:
    span, size = Span(1.5, 4.0), Size(240, 180)
    first = gif_palette_argv("ffmpeg", SRC, PALETTE, span, size, 12.5, **picture)  # type: ignore[arg-type]
    out = OutputSpec(OUT, "gif")
    second = gif_argv("ffmpeg", SRC, PALETTE, out, span, size, 12.5, **picture)  # type: ignore[arg-type]
    return first, second


def test_gif_makes_a_palette_first_then_streams_through_it() -> None:
    first, argv = gif_passes()
    # Seek and duration are input options: they come before -i.
    assert first.index("-ss") < first.index("-i") and first.index("-t") < first.index("-i")
    assert (after(first, "-ss"), after(first, "-t")) == ("1.500", "2.500")
    chain = after(first, "-filter:v")
    assert "fps=10," in chain and "scale=240:180" in chain  # sampled frames, GIF's size
    assert chain.endswith("palettegen=stats_mode=diff") and first[-1] == str(PALETTE)
    assert after(first, "-frames:v") == "1" and after(first, "-f") == "nut"
    assert (after(argv, "-ss"), after(argv, "-t")) == ("1.500", "2.500")
    # The palette is a second input, read as the one format we wrote it in.
    second_input = [i for i, a in enumerate(argv) if a == "-i"][1]
    assert argv[second_input + 1] == str(PALETTE)
    assert argv[second_input - 6 : second_input] == [
        *("-f", "nut", "-format_whitelist", "nut", "-protocol_whitelist", "file"),
    ]
    graph = after(argv, "-filter_complex")
    assert graph.startswith("[0:0]") and "fps=12.5," in graph and "scale=240:180" in graph
    # No split and no palettegen here: nothing holds frames back.
    assert "palettegen" not in graph and "split" not in graph and "[1:v]paletteuse" in graph
    assert after(argv, "-map") == "[gif]" and after(argv, "-loop") == "0"


def test_gif_reads_the_main_video_by_index_and_tone_maps_hdr_first() -> None:
    first, argv = gif_passes(video_index=3, tonemap="zscale=t=linear")
    graph = after(argv, "-filter_complex")
    assert graph.startswith("[0:3]setpts=PTS-STARTPTS,zscale=t=linear,fps=12.5,scale=240:180")
    # The palette is made from the same (tone-mapped) pictures.
    assert after(first, "-map") == "0:3" and "zscale=t=linear" in after(first, "-filter:v")


def webm(info: MediaInfo) -> list[str]:
    assert info.video is not None
    treatment = treat_video(info.video.colour, VP9)
    plan = plan_output_streams(
        info,
        WEBM_RULE,
        "webm",
        lambda s: StreamDecision(s, Fate.ENCODED, treatment.encoder),
        lambda s: StreamDecision(s, Fate.ENCODED, OPUS),
    )
    return webm_argv(
        "ffmpeg",
        SRC,
        OutputSpec(OUT, "webm"),
        plan,
        WEBM_RULE,
        treatment,
        Span(0, 2),
        Size(320, 240),
    )


def test_webm_is_vp9_with_every_audio_track_as_opus_and_subtitles_as_webvtt() -> None:
    argv = webm(media(audio_codecs=("aac", "mp3"), subtitles=("subrip", "dvd_subtitle")))
    assert after(argv, "-c:0") == "libvpx-vp9" and after(argv, "-row-mt:0") == "1"
    assert after(argv, "-c:1") == after(argv, "-c:2") == "libopus"
    assert after(argv, "-filter:1") == "asetpts=PTS-STARTPTS"
    assert after(argv, "-c:3") == "webvtt" and "-c:4" not in argv  # pictures: dropped
    silent = webm(media(audio_codecs=()))
    assert "libopus" not in silent and [a for a in silent if a == "-map"] == ["-map"]


def convert(muxer: str, info: MediaInfo) -> list[str]:
    rule = rule_for(MuxerDetails(muxer, (), None, None))
    plan, treatment = plan_convert(info, rule, muxer)
    return convert_argv("ffmpeg", SRC, OutputSpec(OUT, muxer), plan, rule, treatment)


def test_convert_copies_what_the_container_holds() -> None:
    argv = convert("matroska", media(audio_codecs=("aac", "opus"), subtitles=("subrip",)))
    assert argv.count("copy") == 4 and encoders_in(argv) == []
    assert argv[argv.index("-map") : argv.index("-map") + 8] == [
        *("-map", "0:0", "-map", "0:1"),
        *("-map", "0:2", "-map", "0:3"),
    ]


def test_convert_to_avi_swaps_aac_for_mp3_and_fixes_h264_start_codes() -> None:
    argv = convert("avi", media())
    assert after(argv, "-c:0") == "copy" and after(argv, "-bsf:0") == "h264_mp4toannexb"
    assert after(argv, "-c:1") == "libmp3lame"


def test_convert_to_webm_reencodes_everything_else() -> None:
    argv = convert("webm", media(audio_codecs=("aac", "vorbis")))
    assert encoders_in(argv) == ["libvpx-vp9", "libopus"]
    assert after(argv, "-c:2") == "copy"


def test_a_copied_video_keeps_its_rotation_where_the_container_can_store_it() -> None:
    turned = media(orientation=Orientation(90))
    assert after(convert("mp4", turned), "-c:0") == "copy"
    assert after(convert("matroska", turned), "-c:0") == "copy"
    # AVI and TS have no rotation tag: the video is turned upright instead.
    assert after(convert("avi", turned), "-c:0") == "libx264"
    assert after(convert("mpegts", turned), "-c:0") == "libx264"


def test_hevc_copied_into_mp4_is_tagged_for_apple_players() -> None:
    argv = convert("mp4", media(video_codec="hevc"))
    assert after(argv, "-c:0") == "copy" and after(argv, "-tag:0") == "hvc1"


def test_unknown_muxers_copy_their_default_codec_and_encode_to_it() -> None:
    nut = MuxerDetails("nut", ("nut",), "mpeg4", "vorbis")
    plan, _ = plan_convert(media(video_codec="mpeg4"), rule_for(nut), "nut")
    assert [(d.source.codec, d.encoder.name if d.encoder else None) for d in plan.kept] == [
        ("mpeg4", None),
        ("aac", "libvorbis"),
    ]
    # An audio container's "video" default is cover art: video is left out.
    mp3 = MuxerDetails("mp3", ("mp3",), "png", "mp3")
    plan, _ = plan_convert(media(), rule_for(mp3), "mp3")
    assert [d.source.kind for d in plan.kept] == ["audio"]
    assert plan.decisions[0].reason == "mp3 holds no video"


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
    assert codecs == [f"-c:{n}" for n in range(len(maps))]
    assert all(isinstance(a, str) for a in argv) and argv[-1] == str(OUT)


def test_every_builder_opens_the_upload_with_the_allowlist() -> None:
    """Each op's FFmpeg reads the upload as a self-contained file only (security.md)."""
    info = media(audio_codecs=("aac",), subtitles=("subrip",))
    assert info.video is not None
    span, size = Span(0, 2), Size(160, 120)
    pad = aspect_plan(info.video, Fraction(16, 9), AspectMode.PAD)
    builders = [
        video_op(info, "scale=160:120"),
        video_op(info, aspect_chain(pad)),
        mp3_argv("ffmpeg", SRC, OutputSpec(OUT, "mp3"), 1, 2, None),
        gif_palette_argv("ffmpeg", SRC, PALETTE, span, size, 12),
        gif_argv("ffmpeg", SRC, PALETTE, OutputSpec(OUT, "gif"), span, size, 12),
        webm(info),
        convert("matroska", info),
    ]
    for argv in builders:
        check_input_args(argv)
        upload = argv.index(str(SRC))
        allowed = argv[argv.index("-format_whitelist", upload - 8) + 1]
        assert allowed == FORMAT_WHITELIST and "hls" not in allowed.split(",")
        assert after(argv, "-protocol_whitelist") == "file"
