"""Real-world media fidelity end to end (SPEC §3.1, docs/operations.md "What is kept"):
a real vcs-serve and real FFmpeg on phone-, HDR- and movie-shaped clips, each result
checked as a player sees it (Debian's ffprobe, tests/player_view.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest

from app.media.ffmpeg_exe import find_ffmpeg
from tests.fidelity_media import (
    TO_PQ,
    hdr_clip,
    movie_mkv,
    phone_clip,
    vfr_clip,
)
from tests.player_view import dispositions, player_view, tags, title
from tests.server.test_media_ops import done, failure
from tests.server_process import ServerProcess


@pytest.fixture(scope="module")
def server(ops_server: ServerProcess) -> ServerProcess:
    return ops_server


@pytest.fixture(scope="module")
def clips(media: Path) -> Path:
    return media


@pytest.fixture(scope="module")
def phone(clips: Path) -> Path:
    """640x360 stored, turned 90° clockwise: a 360x640 portrait clip."""
    return phone_clip(clips / "phone.mp4")


@pytest.fixture(scope="module")
def hdr10(clips: Path) -> Path:
    return hdr_clip(clips / "hdr10.mp4", "smpte2084")


@pytest.fixture(scope="module")
def hlg(clips: Path) -> Path:
    return hdr_clip(clips / "hlg.mp4", "arib-std-b67")


@pytest.fixture(scope="module")
def movie(clips: Path) -> Path:
    return movie_mkv(clips / "movie.mkv")


@pytest.fixture(scope="module")
def text_movie(clips: Path) -> Path:
    return movie_mkv(clips / "text-movie.mkv", pictures=False)


def assert_upright(path: Path, size: tuple[int, int]) -> None:
    view = player_view(path)
    assert view.rotation == 0, "an encoded result carries no rotation tag"
    assert view.display_size == size


# --- orientation ---------------------------------------------------------------------


def test_the_phone_clip_is_portrait_to_a_player(phone) -> None:
    view = player_view(phone)
    assert (view.video["width"], view.video["height"]) == (640, 360)
    assert view.rotation == -90 and view.display_size == (360, 640)


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"preset": "480p", "upscale": True}, (480, 854)),  # a preset names the short side
        ({"height": 320}, (180, 320)),
        ({"width": 180}, (180, 320)),
    ],
)
def test_resize_of_a_rotated_clip_is_portrait_and_upright(
    server, phone, tmp_path, params, size
) -> None:
    report, result = done(server, "resize", phone, params, tmp_path)
    assert (report["width"], report["height"]) == size
    assert report["source_orientation"] == "rotated 90° clockwise"
    assert_upright(result, size)


def test_a_preset_does_not_enlarge_a_rotated_clip_smaller_than_it(server, phone, tmp_path):
    report, result = done(server, "resize", phone, {"preset": "720p"}, tmp_path)
    assert "kept at its size" in report["note"]
    assert_upright(result, (360, 640))


def test_gif_webm_and_aspect_of_a_rotated_clip_follow_the_shown_picture(
    server, phone, tmp_path
) -> None:
    _, gif = done(server, "gif", phone, {"start": 0, "end": 1, "width": 90}, tmp_path)
    assert player_view(gif).display_size == (90, 160)
    _, webm = done(server, "webm", phone, {"start": 0, "end": 1}, tmp_path)
    assert_upright(webm, (360, 640))
    report, square = done(server, "aspect", phone, {"ratio": "1:1", "mode": "crop"}, tmp_path)
    assert (report["width"], report["height"]) == (360, 360)
    assert_upright(square, (360, 360))


def test_convert_copies_the_rotation_tag_or_turns_the_picture_upright(
    server, phone, tmp_path
) -> None:
    report, mkv = done(server, "convert", phone, {"format": "mkv"}, tmp_path)
    assert report["streams"][0]["action"] == "copied"
    view = player_view(mkv)
    assert view.rotation == -90 and view.display_size == (360, 640)
    # AVI has no rotation tag: the picture itself is turned.
    report, avi = done(server, "convert", phone, {"format": "avi"}, tmp_path)
    assert report["streams"][0]["action"] == "encoded"
    assert "rotation" in report["streams"][0]["reason"]
    assert_upright(avi, (360, 640))


def upright_vmaf(result: Path, source: Path) -> float:
    """VMAF of `result` against the source as it is shown (FFmpeg turns it upright),
    frame by frame, computed here with FFmpeg's libvmaf."""
    log = result.with_suffix(".vmaf.json")
    graph = (
        "[0:v:0]settb=AVTB,setpts=N[d];"
        "[1:v:0]crop=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p,settb=AVTB,setpts=N[r];"
        f"[d][r]libvmaf=log_fmt=json:log_path={log}"
    )
    subprocess.run(
        [
            find_ffmpeg(),
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(result),
            "-i",
            str(source),
            "-lavfi",
            graph,
            "-f",
            "null",
            "-",
        ],
        check=True,
        timeout=300,
    )
    return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


def test_compress_of_a_rotated_clip_reaches_its_target_on_upright_frames(
    server, phone, tmp_path
) -> None:
    report, result = done(server, "compress", phone, {"target_vmaf": 90}, tmp_path)
    assert report["outcome"] == "compressed"
    assert_upright(result, (360, 640))
    # The search's own claim, and the same measured here on what a viewer sees.
    assert report["vmaf"] >= 89
    assert upright_vmaf(result, phone) >= 89


# --- every stream --------------------------------------------------------------------


def assert_tracks_kept(path: Path) -> dict[str, Any]:
    """The movie's two audio tracks with language, title and disposition, its English
    subtitle, chapters and title; returns ffprobe's view."""
    view = player_view(path)
    eng, jpn = view.of_kind("audio")
    assert (tags(eng)["language"], title(eng)) == ("eng", "English stereo")
    assert (tags(jpn)["language"], title(jpn)) == ("jpn", "Japanese commentary")
    assert "default" in dispositions(eng) and "comment" in dispositions(jpn)
    subtitle = view.of_kind("subtitle")[0]
    assert tags(subtitle)["language"] == "eng" and "default" in dispositions(subtitle)
    assert [tags(c)["title"] for c in view.chapters] == ["Opening", "Ending"]
    assert view.doc["format"]["tags"].get("title") == "Fidelity test"
    return {"view": view}


def test_resize_of_a_movie_keeps_every_track_and_becomes_mkv_for_its_pictures_and_font(
    server, movie, tmp_path
) -> None:
    report, result = done(server, "resize", movie, {"width": 160}, tmp_path)
    assert result.suffix == ".mkv" and report["container"] == "mkv"
    assert "picture subtitles (dvd_subtitle)" in report["container_note"]
    view = assert_tracks_kept(result)["view"]
    codecs = [s["codec_name"] for s in view.of_kind("subtitle")]
    assert codecs == ["subrip", "dvd_subtitle"]
    forced = view.of_kind("subtitle")[1]
    assert tags(forced)["language"] == "fre" and "forced" in dispositions(forced)
    [font] = view.of_kind("attachment")
    assert tags(font)["filename"] == "DejaVuSans.ttf"
    # The report lists every input stream and what became of it.
    actions = [(s["kind"], s["action"]) for s in report["streams"]]
    assert actions == [
        ("video", "encoded"),
        *[("audio", "copied")] * 2,
        *[("subtitle", "copied")] * 2,
        ("attachment", "copied"),
    ]


def test_compress_of_a_movie_keeps_every_track_in_mp4_with_mov_text(
    server, text_movie, tmp_path
) -> None:
    report, result = done(server, "compress", text_movie, {}, tmp_path)
    assert report["outcome"] == "compressed" and result.suffix == ".mp4"
    view = assert_tracks_kept(result)["view"]
    assert view.of_kind("subtitle")[0]["codec_name"] == "mov_text"
    subtitle = next(s for s in report["streams"] if s["kind"] == "subtitle")
    assert subtitle["action"] == "converted" and subtitle["encoder"] == "mov_text"


def test_convert_to_mp4_says_what_it_could_not_keep(server, movie, tmp_path) -> None:
    report, result = done(server, "convert", movie, {"format": "mp4"}, tmp_path)
    view = player_view(result)
    assert [s["codec_name"] for s in view.of_kind("subtitle")] == ["mov_text"]
    assert len(view.of_kind("audio")) == 2 and len(view.chapters) == 2
    dropped = {s["codec"]: s["reason"] for s in report["streams"] if s["action"] == "dropped"}
    assert "picture subtitles" in dropped["dvd_subtitle"]
    assert "attachments" in dropped["ttf"]
    # And MKV holds everything as it is.
    report, mkv = done(server, "convert", movie, {"format": "mkv"}, tmp_path)
    assert all(s["action"] == "copied" for s in report["streams"])
    assert len(player_view(mkv).streams) == 6


def test_audio_takes_the_default_track_and_says_so(server, movie, tmp_path) -> None:
    report, _ = done(server, "audio", movie, {}, tmp_path)
    eng, jpn = [s for s in report["streams"] if s["kind"] == "audio"]
    assert eng["action"] == "encoded" and jpn["action"] == "dropped"


def test_webm_keeps_every_track_as_opus_and_text_subtitles_as_webvtt(
    server, movie, tmp_path
) -> None:
    report, result = done(server, "webm", movie, {"start": 0, "end": 1.5}, tmp_path)
    view = player_view(result)
    assert [s["codec_name"] for s in view.of_kind("audio")] == ["opus", "opus"]
    assert [s["codec_name"] for s in view.of_kind("subtitle")] == ["webvtt"]
    assert [tags(s)["language"] for s in view.of_kind("audio")] == ["eng", "jpn"]
    dropped = [s for s in report["streams"] if s["action"] == "dropped"]
    assert {s["kind"] for s in dropped} == {"subtitle", "attachment"}


def test_variable_frame_rate_and_sound_are_kept(server, clips, tmp_path) -> None:
    source = vfr_clip(clips / "vfr.mkv")
    _, result = done(server, "resize", source, {"width": 160}, tmp_path)

    def timing(path: Path) -> tuple[list[float], float]:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            times = [float(f.pts * f.time_base) for f in container.decode(video)]
        with av.open(str(path)) as container:
            audio = container.streams.audio[0]
            audio_end = max(
                float((p.pts + (p.duration or 0)) * p.time_base)
                for p in container.demux(audio)
                if p.pts is not None
            )
        return times, audio_end

    (before, sound_before), (after, sound_after) = timing(source), timing(result)
    assert len(after) == len(before) == 30 + 10  # 30 fps for 1 s, then 10 fps
    assert all(abs(a - b) < 0.002 for a, b in zip(after, before, strict=True))
    assert abs(sound_after - sound_before) < 0.05


# --- HDR -----------------------------------------------------------------------------


def assert_hdr10(path: Path) -> None:
    view = player_view(path)
    video = view.video
    assert video["codec_name"] == "hevc" and video["pix_fmt"] == "yuv420p10le"
    assert (video["color_transfer"], video["color_primaries"]) == ("smpte2084", "bt2020")
    mastering = view.side_data("Mastering display metadata")
    assert mastering is not None and mastering["max_luminance"] == "10000000/10000"
    light = view.side_data("Content light level metadata")
    assert light is not None and (light["max_content"], light["max_average"]) == (1000, 400)


def test_the_hdr10_clip_is_hdr10_to_a_player(hdr10) -> None:
    assert_hdr10(hdr10)


def test_compress_keeps_hdr10_in_10_bit_hevc_with_its_metadata(server, hdr10, tmp_path):
    report, result = done(server, "compress", hdr10, {}, tmp_path)
    assert report["outcome"] == "compressed", report
    assert report["codec"] == "h265" and report["hdr"] == "kept"
    assert_hdr10(result)


def test_compress_to_h264_tone_maps_hdr_to_sdr_and_says_so(server, hdr10, tmp_path):
    report, result = done(server, "compress", hdr10, {"codec": "h264"}, tmp_path)
    assert report["hdr"] == "tone-mapped" and "SDR BT.709" in report["hdr_note"]
    video = player_view(result).video
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert (video["color_transfer"], video["color_primaries"]) == ("bt709", "bt709")


def test_resize_keeps_hlg(server, hlg, tmp_path) -> None:
    report, result = done(server, "resize", hlg, {"width": 160}, tmp_path)
    assert report["codec"] == "h265" and report["hdr"] == "kept"
    video = player_view(result).video
    assert video["pix_fmt"] == "yuv420p10le" and video["color_transfer"] == "arib-std-b67"


def test_webm_tone_maps_unless_asked_to_keep_hdr(server, hdr10, tmp_path) -> None:
    report, sdr = done(server, "webm", hdr10, {"end": 1}, tmp_path)
    assert report["hdr"] == "tone-mapped"
    video = player_view(sdr).video
    assert video["pix_fmt"] == "yuv420p" and video["color_transfer"] == "bt709"
    report, kept = done(server, "webm", hdr10, {"end": 1, "keep_hdr": True}, tmp_path)
    assert report["hdr"] == "kept"
    video = player_view(kept).video
    assert video["pix_fmt"] == "yuv420p10le" and video["color_transfer"] == "smpte2084"
    assert video["profile"] == "Profile 2"


def psnr(a: Path, b: Path) -> float:
    """PSNR of the first frame of `a` against the first of `b` (FFmpeg's psnr filter)."""
    run = subprocess.run(
        [
            find_ffmpeg(),
            "-nostdin",
            "-hide_banner",
            "-i",
            str(a),
            "-i",
            str(b),
            "-lavfi",
            "[0:v][1:v]psnr",
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(line for line in run.stderr.splitlines() if "average:" in line)
    return float(line.split("average:")[1].split()[0])


def test_a_gif_of_hdr_is_tone_mapped(server, hdr10, clips, tmp_path) -> None:
    report, gif = done(server, "gif", hdr10, {"start": 0, "end": 1, "width": 320}, tmp_path)
    assert report["hdr"] == "tone-mapped"
    frame = tmp_path / "gif.png"
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-i", str(gif), "-frames:v", "1", str(frame)], check=True
    )
    # A reference tone map of the same frame (the textbook chain: PQ to linear light,
    # Hable, BT.709), and what an untouched conversion shows (PQ values read as SDR).
    reference, untouched = tmp_path / "reference.png", tmp_path / "untouched.png"
    tonemap = (
        "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
        "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=rgb24"
    )
    for out, chain in ((reference, tonemap), (untouched, "format=rgb24")):
        subprocess.run(
            [
                find_ffmpeg(),
                "-v",
                "error",
                "-i",
                str(hdr10),
                "-vf",
                chain,
                "-frames:v",
                "1",
                str(out),
            ],
            check=True,
        )
    assert psnr(frame, reference) > psnr(frame, untouched) + 3
    assert TO_PQ  # the clip is an SDR picture carried in PQ (tests/fidelity_media.py)


# --- time ranges ---------------------------------------------------------------------


def test_a_start_at_the_very_end_is_clamped_to_the_last_moments(server, phone, tmp_path):
    report, _ = done(server, "gif", phone, {"start": 2.0, "width": 90}, tmp_path)
    assert report["end"] == 2.0 and report["start"] == pytest.approx(1.9)
    assert "note" in report
    error = failure(server, "gif", phone, {"start": 2.5, "width": 90}, tmp_path)
    assert error["code"] == "bad_params"
