"""Parameter checks of the media ops: hostile values are refused before any upload is
stored, so they never reach an FFmpeg argument list (SPEC §3)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.media.probe import MediaInfo, VideoInfo
from app.protocol.errors import ErrorCode, VcsError
from app.protocol.ops import UPLOAD_OPS as TABLE
from app.server.ops import UPLOAD_OPS
from app.server.ops.params import resolve_span

HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("resize", {"width": "1280; rm -rf /"}, "'width' must be a whole number"),
    ("resize", {"width": True}, "'width' must be a whole number"),
    ("resize", {"width": 1280.5}, "'width' must be a whole number"),
    ("resize", {"width": 10**400}, "outside 16..7680"),
    ("resize", {"width": 1e308}, "outside 16..7680"),
    ("resize", {"height": -720}, "outside 16..7680"),
    ("resize", {"width": 1281}, "is odd"),
    ("resize", {"width": [1280]}, "'width' must be a whole number"),
    ("resize", {"preset": "4k"}, "'preset' must be one of"),
    ("resize", {"preset": "720p", "width": 1280}, "either a preset or width/height"),
    ("resize", {}, "needs a width, a height or a preset"),
    ("resize", {"preset": "720p", "upscale": "yes"}, "'upscale' must be true or false"),
    ("webm", {"keep_hdr": 1}, "'keep_hdr' must be true or false"),
    ("aspect", {}, "'ratio' is required"),
    ("aspect", {"ratio": "16:9;reboot"}, "must look like 16:9"),
    ("aspect", {"ratio": "16/9"}, "must look like 16:9"),
    ("aspect", {"ratio": "0:9"}, "outside 1:10..10:1"),
    ("aspect", {"ratio": "100:1"}, "outside 1:10..10:1"),
    ("aspect", {"ratio": 1.77}, "must look like 16:9"),
    ("aspect", {"ratio": "16:9", "mode": "zoom"}, "'mode' must be one of pad, crop, stretch"),
    ("audio", {"bitrate": 193}, "MP3 bit rate"),
    ("audio", {"bitrate": "192kbps"}, "MP3 bit rate"),
    ("audio", {"bitrate": -128}, "MP3 bit rate"),
    ("gif", {"start": -1, "end": 2}, "negative"),
    ("gif", {"start": float("nan")}, "must be a number of seconds"),
    ("gif", {"end": float("inf")}, "must be a number of seconds"),
    ("gif", {"start": "$(reboot)"}, "is not a time"),
    ("gif", {"start": "00:61:00"}, "is not a time"),
    ("gif", {"start": "1:75"}, "60 or more seconds"),
    ("gif", {"end": 10**12}, "longer than any upload"),
    ("gif", {"start": 5, "end": 5}, "is not after start"),
    ("gif", {"start": 0, "end": 61}, "at most 60 s"),
    ("gif", {"end": 3, "fps": 0}, "'fps' 0 is outside 1..30"),
    ("gif", {"end": 3, "fps": 1000}, "'fps' 1000 is outside 1..30"),
    ("gif", {"end": 3, "fps": "12"}, "'fps' must be a number; got '12'"),
    ("gif", {"end": 3, "width": 4000}, "'width' 4000 is outside 16..1280"),
    ("gif", {"start": 10**4000}, "longer than any upload"),
    ("gif", {"end": -(10**4000)}, "negative"),
    ("webm", {"start": 0, "end": 10**4000}, "longer than any upload"),
    ("gif", {"end": 3, "width": 300.5}, "'width' must be a whole number"),
    ("webm", {"start": "1:00:00", "end": "1:01:00.001"}, "at most 60 s"),
    ("webm", {"end": 3, "width": 99}, "is odd"),
    ("convert", {}, "'format' is required: the container to produce"),
    ("convert", {"format": "../../etc/passwd"}, "must be a format name"),
    ("convert", {"format": "-y"}, "must be a format name"),
    ("convert", {"format": "mp4 -f null"}, "must be a format name"),
    ("convert", {"format": "xvid"}, "cannot write the format 'xvid'"),
    ("convert", {"format": "tee"}, "cannot write the format 'tee'"),
    ("convert", {"format": "pulse"}, "cannot write the format 'pulse'"),
    ("convert", {"format": "gif"}, "animated image format"),
]


@pytest.mark.parametrize(("op", "doc", "why"), HOSTILE)
def test_hostile_values_are_refused_with_a_solution(op: str, doc: dict[str, Any], why: str):
    with pytest.raises(VcsError) as info:
        UPLOAD_OPS[op].check_params({"op": op, **doc})
    assert info.value.code is ErrorCode.BAD_PARAMS
    assert why in info.value.info.description
    assert info.value.info.solution


@pytest.mark.parametrize(
    ("op", "doc", "params"),
    [
        (
            "resize",
            {"width": 1280},
            {"width": 1280, "height": None, "preset_lines": None, "upscale": False},
        ),
        (
            "resize",
            {"preset": "1080P", "upscale": True},
            {"width": None, "height": None, "preset_lines": 1080, "upscale": True},
        ),
        ("aspect", {"ratio": "32:18"}, {"ratio": "16:9", "mode": "pad"}),
        ("aspect", {"ratio": "2.39:1", "mode": "crop"}, {"ratio": "239:100", "mode": "crop"}),
        ("audio", {}, {"bitrate_kbps": None}),
        ("audio", {"bitrate": "320k"}, {"bitrate_kbps": 320}),
        (
            "gif",
            {"start": "00:00:01.250", "end": 3},
            {"start": 1.25, "end": 3.0, "fps": 12.0, "width": None},
        ),
        (
            "gif",
            {"start": "1:02.5", "end": 70, "fps": 15, "width": 321},
            {"start": 62.5, "end": 70.0, "fps": 15.0, "width": 321},
        ),
        ("webm", {}, {"start": 0.0, "end": None, "width": None, "keep_hdr": False}),
        (
            "webm",
            {"start": 4.001, "end": 64.001, "keep_hdr": True},
            {"start": 4.001, "end": 64.001, "width": None, "keep_hdr": True},
        ),
        ("convert", {"format": "MKV"}, {"format": "mkv", "muxer": "matroska"}),
        ("convert", {"format": "mpegts"}, {"format": "mpegts", "muxer": "mpegts"}),
    ],
)
def test_good_values_are_normalised(op: str, doc: dict[str, Any], params: dict[str, Any]):
    assert UPLOAD_OPS[op].check_params({"op": op, **doc}) == params


def test_unknown_formats_get_close_suggestions() -> None:
    with pytest.raises(VcsError) as info:
        UPLOAD_OPS["convert"].check_params({"format": "matroshka"})
    assert "matroska" in info.value.info.solution


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "width",
                "height",
                "preset",
                "ratio",
                "mode",
                "bitrate",
                "start",
                "end",
                "fps",
                "format",
            ]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=12),
            st.lists(st.integers(), max_size=2),
        ),
    )
)
def test_any_json_either_passes_or_is_bad_params(doc: dict[str, Any]) -> None:
    for op in UPLOAD_OPS.values():
        try:
            op.check_params(doc)
        except VcsError as exc:
            assert exc.code is ErrorCode.BAD_PARAMS


def info(duration_s: float, fps: float | None = None) -> MediaInfo:
    video = None
    if fps is not None:
        video = VideoInfo("h264", 320, 240, fps, None, "yuv420p", None, None, "h264")
    return MediaInfo("test", duration_s, 1000, None, video, None)


def refusal(params: dict[str, Any], duration_s: float, fps: float | None = None) -> VcsError:
    with pytest.raises(VcsError) as caught:
        resolve_span(params, info(duration_s, fps))
    return caught.value


def test_spans_past_the_end_are_refused_with_what_would_fit() -> None:
    error = refusal({"start": 1.0, "end": 12.5}, 9.8)
    assert error.info.description == "end 12.5 is past the video's 9.8 s duration."
    assert error.info.solution == "Pick end ≤ 9.8."
    assert "Pick start < 9.8" in refusal({"start": 9.9, "end": None}, 9.8).info.solution
    assert "e.g. end 70" in refusal({"start": 10.0, "end": None}, 300).info.solution


def test_an_end_less_than_a_frame_past_the_duration_is_clamped() -> None:
    # ffprobe says 1.205 s; a player shows 1.21 (issue 16).
    span = resolve_span({"start": 0.5, "end": 1.21}, info(1.205, fps=30))
    assert (span.start_s, span.end_s) == (0.5, 1.205)
    # Without a frame rate, only the probe's rounding (5 ms) is forgiven.
    assert resolve_span({"start": 0.0, "end": 1.21}, info(1.205)).end_s == 1.205
    assert "past the video" in refusal({"start": 0.0, "end": 1.25}, 1.205).info.description
    assert "past the video" in refusal({"start": 0.0, "end": 1.25}, 1.205, 30).info.description


def test_a_start_at_the_very_end_moves_back_to_the_last_moments() -> None:
    span = resolve_span({"start": 3.0, "end": None}, info(3.0, fps=25))
    assert (span.start_s, span.end_s) == (2.9, 3.0)
    span = resolve_span({"start": 3.01, "end": 3.02}, info(3.0, fps=25))
    assert (span.start_s, span.end_s) == (2.9, 3.0)
    assert "Pick start < 3" in refusal({"start": 3.1, "end": None}, 3.0, 25).info.solution


def test_spans_default_to_the_end_of_the_video() -> None:
    span = resolve_span({"start": 1.0, "end": None}, info(3.0401))
    assert (span.start_s, span.end_s) == (1.0, 3.04)


@pytest.mark.parametrize("op", list(UPLOAD_OPS))
def test_null_is_the_field_left_out(op: str) -> None:
    base = {"aspect": {"ratio": "16:9"}, "convert": {"format": "mkv"}, "resize": {"width": 640}}
    doc = base.get(op, {})
    for name in (f.name for f in TABLE[op].fields if f.name not in doc):
        assert UPLOAD_OPS[op].check_params({**doc, name: None}) == UPLOAD_OPS[op].check_params(doc)
