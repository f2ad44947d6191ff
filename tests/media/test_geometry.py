"""Frame sizes for resize/aspect/gif/webm: display shape kept, even sides, bounds refused."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.media.geometry import (
    MAX_SIDE,
    MIN_SIDE,
    AspectMode,
    Size,
    aspect_plan,
    clip_size,
    resize_size,
)
from app.media.orientation import Orientation
from app.media.probe import VideoInfo
from app.protocol.errors import ErrorCode, VcsError


def video(width: int, height: int, dar: Fraction | None = None, rotation: int = 0) -> VideoInfo:
    return VideoInfo(
        "h264",
        width,
        height,
        25.0,
        None,
        "yuv420p",
        dar,
        None,
        "h264",
        orientation=Orientation(rotation),
    )


@pytest.mark.parametrize(
    ("width", "height", "preset", "expected"),
    [
        (1280, None, None, Size(1280, 720)),
        (None, 480, None, Size(854, 480)),
        (640, 640, None, Size(640, 640)),  # both sides: exactly that
        (None, None, 720, Size(1280, 720)),
    ],
)
def test_resize_keeps_the_shape_of_a_16_9_video(width, height, preset, expected) -> None:
    assert resize_size(video(1920, 1080), width, height, preset).size == expected


def test_resize_presets_set_the_short_side_of_portrait_video() -> None:
    assert resize_size(video(1080, 1920), None, None, 720).size == Size(720, 1280)


@pytest.mark.parametrize("rotation", [90, 270])
def test_a_phone_clip_turned_a_quarter_is_sized_as_shown(rotation) -> None:
    # 3840x2160 coded, display matrix -90°: a portrait 2160x3840 clip.
    phone = video(3840, 2160, Fraction(16, 9), rotation)
    assert resize_size(phone, None, None, 480).size == Size(480, 854)
    assert resize_size(phone, None, None, 720).size == Size(720, 1280)
    assert resize_size(phone, 1080, None, None).size == Size(1080, 1920)
    assert clip_size(phone, None, 480, even_sides=True) == Size(480, 854)
    assert aspect_plan(phone, Fraction(1, 1), AspectMode.CROP).out == Size(2160, 2160)
    assert aspect_plan(phone, Fraction(9, 16), AspectMode.PAD).square is None
    upside_down = video(1920, 1080, None, 180)
    assert resize_size(upside_down, None, None, 720).size == Size(1280, 720)


def test_presets_never_enlarge_unless_asked() -> None:
    small = video(480, 270)
    plan = resize_size(small, None, None, 480)
    assert plan.size == Size(480, 270) and plan.note and "upscale" in plan.note
    assert resize_size(small, None, None, 480, upscale=True).size == Size(854, 480)
    assert resize_size(video(640, 480), None, None, 480).size == Size(640, 480)  # already 480p
    # Explicit sides are honoured, larger or not.
    assert resize_size(small, 960, None, None) == resize_size(small, 960, None, None, upscale=True)
    assert resize_size(small, 960, None, None).size == Size(960, 540)


def test_resize_follows_the_display_shape_of_anamorphic_video() -> None:
    # DVD PAL: 720x576 pixels shown at 16:9.
    assert resize_size(video(720, 576, Fraction(16, 9)), None, 576, None).size == Size(1024, 576)


def test_resize_refuses_a_side_out_of_range() -> None:
    with pytest.raises(VcsError) as info:
        resize_size(video(7680, 100), None, 7000, None)  # width would be 537,600
    assert info.value.code is ErrorCode.BAD_PARAMS
    assert "7680" in info.value.info.description


@pytest.mark.parametrize(
    ("mode", "ratio", "out"),
    [
        (AspectMode.PAD, Fraction(16, 9), Size(426, 240)),  # pillarbox
        (AspectMode.PAD, Fraction(9, 16), Size(320, 568)),  # letterbox
        (AspectMode.CROP, Fraction(16, 9), Size(320, 180)),
        (AspectMode.CROP, Fraction(1, 1), Size(240, 240)),
        (AspectMode.STRETCH, Fraction(16, 9), Size(426, 240)),
        (AspectMode.STRETCH, Fraction(9, 16), Size(136, 240)),
    ],
)
def test_aspect_sizes_of_a_4_3_video(mode: AspectMode, ratio: Fraction, out: Size) -> None:
    plan = aspect_plan(video(320, 240), ratio, mode)
    assert plan.out == out and plan.square is None and plan.ratio == ratio


def test_aspect_squares_anamorphic_pixels_first() -> None:
    plan = aspect_plan(video(720, 576, Fraction(16, 9)), Fraction(4, 3), AspectMode.CROP)
    assert plan.square == Size(1024, 576)
    assert plan.out == Size(768, 576)


def test_aspect_refuses_a_pad_beyond_the_size_limit_and_suggests_crop() -> None:
    with pytest.raises(VcsError) as info:
        aspect_plan(video(3840, 2160), Fraction(1, 10), AspectMode.PAD)
    assert "crop" in info.value.info.solution


@given(
    width=st.integers(MIN_SIDE, 4000),
    height=st.integers(MIN_SIDE, 4000),
    ratio=st.fractions(Fraction(1, 10), Fraction(10), max_denominator=100),
    mode=st.sampled_from(list(AspectMode)),
)
def test_aspect_plans_are_even_in_range_and_near_the_ratio(width, height, ratio, mode) -> None:
    try:
        plan = aspect_plan(video(width, height), ratio, mode)
    except VcsError as exc:
        assert exc.code is ErrorCode.BAD_PARAMS
        return
    out, src = plan.out, plan.source
    assert out.width % 2 == 0 and out.height % 2 == 0
    assert MIN_SIDE <= out.width <= MAX_SIDE and MIN_SIDE <= out.height <= MAX_SIDE
    # Even rounding moves a side by at most one pixel; setdar then makes the ratio exact.
    assert abs(out.width - out.height * ratio) <= 1 + ratio
    if mode is AspectMode.PAD:
        assert out.width >= src.width and out.height >= src.height
    if mode is AspectMode.CROP:
        assert out.width <= src.width and out.height <= src.height


def test_clip_size_defaults_and_never_upscales() -> None:
    assert clip_size(video(1920, 1080), None, 480, even_sides=False) == Size(480, 270)
    assert clip_size(video(320, 240), None, 480, even_sides=False) == Size(320, 240)
    assert clip_size(video(1920, 1080), 255, 480, even_sides=True) == Size(256, 144)
    with pytest.raises(VcsError) as info:
        clip_size(video(320, 240), 640, 480, even_sides=True)
    assert "width ≤ 320" in info.value.info.solution
