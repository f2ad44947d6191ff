"""The op form's rules (the op table applied to typed texts): what it accepts and what it
says is wrong. Pilot tests of the form itself are in test_form_and_errors.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.protocol.ops import UPLOAD_OPS
from app.protocol.ops.shapes import MP3_BITRATES_KBPS
from app.protocol.ops.table import MAX_SPAN_S
from app.tui.op_form import request_of, validate


def test_gif_range_is_checked_against_the_clip() -> None:
    ok = validate("gif", {"start": "1", "end": "2.5", "fps": "12.5"}, duration_s=4.0)
    assert ok.ok and ok.params == {"start": 1, "end": 2.5, "fps": 12.5}
    assert validate("gif", {"start": "3", "end": "2"}, 4.0).errors == {"end": "must be after start"}
    assert "4 s" in validate("gif", {"start": "1", "end": "9"}, 4.0).errors["end"]
    assert "start" in validate("gif", {"start": "4.5", "end": "5"}, 4.0).errors
    # At the very end, or less than a frame past it, the range is clamped as the server
    # clamps it (so the form does not refuse what the server takes).
    assert validate("gif", {"start": "4"}, 4.0).ok
    assert validate("gif", {"start": "1", "end": "4.03"}, 4.0, frame_s=1 / 25).ok
    assert not validate("gif", {"start": "1", "end": "4.03"}, 4.0).ok
    assert validate("gif", {"start": "1", "end": "9"}, None).ok  # unknown length: server checks
    long = validate("gif", {"start": "0", "end": str(MAX_SPAN_S + 1)}, 600.0)
    assert "60 s" in long.errors["end"]
    # Without an end, the rest of the clip must fit in 60 s, as the server decides.
    assert validate("webm", {"start": "1"}, 30.0).ok
    assert "end" in validate("webm", {"start": "1"}, 300.0).errors


@pytest.mark.parametrize(
    ("op", "texts", "params"),
    [
        # The cases where the form used to refuse what the server accepts.
        ("aspect", {"ratio": "2.39:1"}, {"ratio": "2.39:1"}),
        ("gif", {"start": "00:01:02.5", "end": "1:10"}, {"start": "00:01:02.5", "end": "1:10"}),
        ("gif", {}, {}),  # start and end omitted: the server defaults them
        ("webm", {"start": "", "end": "2"}, {"end": 2}),
        ("convert", {"format": "mxf_d10"}, {"format": "mxf_d10"}),
        ("convert", {"format": ".MKV"}, {"format": "mkv"}),
        *[("audio", {"bitrate": f"{k}k"}, {"bitrate": f"{k}k"}) for k in MP3_BITRATES_KBPS],
        ("audio", {"bitrate": "224"}, {"bitrate": 224}),
        ("compress", {}, {}),  # every parameter optional
        ("aspect", {"ratio": "9:16", "mode": "crop"}, {"ratio": "9:16", "mode": "crop"}),
    ],
)
def test_what_the_server_accepts_the_form_accepts(
    op: str, texts: dict[str, str], params: dict[str, object]
) -> None:
    result = validate(op, texts)
    assert result.ok, result.errors
    assert result.params == params
    UPLOAD_OPS[op].parse(params)  # and the server's check agrees


@pytest.mark.parametrize(
    ("op", "raw", "field"),
    [
        ("resize", {"width": "641"}, "width"),  # odd
        ("resize", {"height": "8"}, "height"),  # below 16
        ("resize", {"width": "640", "preset": "720p"}, "preset"),  # both
        ("resize", {}, ""),  # nothing
        ("aspect", {"ratio": "16/9"}, "ratio"),
        ("aspect", {"ratio": "0:9"}, "ratio"),
        ("aspect", {"ratio": "4:3", "mode": "zoom"}, "mode"),
        ("aspect", {}, "ratio"),  # required
        ("compress", {"codec": "xvid"}, "codec"),
        ("compress", {"target_vmaf": "99.5"}, "target_vmaf"),
        ("convert", {"format": "m p4"}, "format"),
        ("gif", {"start": "1", "end": "2", "fps": "31"}, "fps"),
        ("gif", {"start": "1", "end": "2", "width": "1281"}, "width"),
        ("gif", {"start": "1:75"}, "start"),
        ("gif", {"start": "9" * 4000}, "start"),
        ("audio", {"bitrate": "193"}, "bitrate"),
    ],
)
def test_bad_values_are_named(op: str, raw: dict[str, str], field: str) -> None:
    result = validate(op, raw, 10.0)
    assert not result.ok and field in result.errors and result.params == {}
    assert result.first is not None and result.first.solution


def test_a_field_error_hides_the_form_level_one() -> None:
    assert validate("resize", {"width": "641"}).errors == {"width": "an even number"}


def test_typed_numbers_go_as_json_numbers_and_shapes_as_typed() -> None:
    assert request_of("gif", {"start": " 3 ", "end": "00:00:06", "fps": "12.5"}) == {
        "start": 3,
        "end": "00:00:06",
        "fps": 12.5,
    }


@given(st.dictionaries(st.sampled_from(["start", "end", "fps", "width"]), st.text(max_size=12)))
def test_any_text_is_either_params_or_errors(raw: dict[str, str]) -> None:
    result = validate("gif", raw, 30.0)
    assert result.ok != bool(result.errors)
    if result.ok:
        values = UPLOAD_OPS["gif"].parse(result.params)
        assert 0 <= values["start"] < (values["end"] or 30.0) <= 30.0
