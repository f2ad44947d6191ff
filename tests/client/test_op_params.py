"""The client's table of op parameters: what a form accepts and what it says is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.client.op_params import MAX_CLIP_SPAN_S, OPS, validate


def test_gif_range_is_checked_against_the_clip() -> None:
    ok = validate("gif", {"start": "1", "end": "2.5", "fps": "12.5"}, duration_s=4.0)
    assert ok.ok and ok.params == {"start": 1.0, "end": 2.5, "fps": 12.5}
    assert validate("gif", {"start": "3", "end": "2"}, 4.0).errors == {"end": "must be after start"}
    assert "4.0 s" in validate("gif", {"start": "1", "end": "9"}, 4.0).errors["end"]
    assert "start" in validate("gif", {"start": "4", "end": "5"}, 4.0).errors
    assert validate("gif", {"start": "1", "end": "9"}, None).ok  # unknown length: server checks
    long = validate("gif", {"start": "0", "end": str(MAX_CLIP_SPAN_S + 1)}, 600.0)
    assert "60 s" in long.errors["end"]
    assert validate("webm", {"start": "", "end": "2"}).errors == {"start": "required"}


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
        ("compress", {"codec": "xvid"}, "codec"),
        ("convert", {"format": "m p4"}, "format"),
        ("gif", {"start": "1", "end": "2", "fps": "31"}, "fps"),
        ("gif", {"start": "1", "end": "2", "width": "1281"}, "width"),
    ],
)
def test_bad_values_are_named(op: str, raw: dict[str, str], field: str) -> None:
    result = validate(op, raw, 10.0)
    assert not result.ok and field in result.errors and result.params == {}


def test_a_field_error_hides_the_form_level_one() -> None:
    assert validate("resize", {"width": "641"}).errors == {"width": "an even number"}


def test_every_op_of_the_spec_is_described() -> None:
    assert set(OPS) == {"compress", "resize", "aspect", "audio", "gif", "webm", "convert"}
    assert validate("compress", {}).params == {}  # every parameter optional
    assert validate("convert", {"format": ".MKV"}).params == {"format": "mkv"}
    assert validate("aspect", {"ratio": "9:16", "mode": "crop"}).ok


@given(st.dictionaries(st.sampled_from(["start", "end", "fps", "width"]), st.text(max_size=12)))
def test_any_text_is_either_params_or_errors(raw: dict[str, str]) -> None:
    result = validate("gif", raw, 30.0)
    assert result.ok != bool(result.errors)
    if result.ok:
        assert 0 <= result.params["start"] < result.params["end"] <= 30.0
