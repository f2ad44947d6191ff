"""Chunk boundaries: every frame once, cuts on scene changes, lengths within bounds."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from app.media.compress.chunks import plan_chunks


@st.composite
def videos(draw: st.DrawFn) -> tuple[list[float], dict[int, float], float]:
    """Frame times (variable frame rate: gaps of 1..100 ms) and scene scores."""
    gaps = draw(st.lists(st.integers(1, 100), min_size=1, max_size=2500))
    times = [0.0, *itertools.accumulate(g / 1000 for g in gaps[:-1])]
    scores = draw(
        st.dictionaries(
            st.integers(0, len(times) - 1), st.floats(0, 100, allow_nan=False), max_size=60
        )
    )
    return times, scores, times[-1] + gaps[-1] / 1000


@settings(max_examples=300, deadline=None)
@given(videos(), st.floats(0.5, 5), st.floats(2, 5))
def test_chunks_cover_every_frame_once_within_bounds(video, min_s: float, ratio: float) -> None:
    times, scores, end_s = video
    max_s = min_s * ratio
    chunks = plan_chunks(times, scores, end_s, min_s=min_s, max_s=max_s)
    assert chunks[0].first_frame == 0 and chunks[-1].end_frame == len(times)
    for before, after in itertools.pairwise(chunks):
        assert after.first_frame == before.end_frame and before.end_s == after.start_s
    assert all(c.frame_count > 0 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    biggest_gap = max((b - a for a, b in itertools.pairwise([*times, end_s])), default=0)
    for chunk in chunks:
        # Never past the maximum, but for the frame that crossed it.
        assert chunk.duration_s <= max_s + biggest_gap + 1e-9
    if len(chunks) > 1:
        # Only a video shorter than the minimum makes a chunk shorter than it.
        # (An even split of the tail can miss it by half a frame.)
        assert all(c.duration_s >= min_s - biggest_gap / 2 - 1e-9 for c in chunks)


@settings(max_examples=200, deadline=None)
@given(videos())
def test_every_scene_change_far_enough_from_the_last_cut_becomes_a_cut(video) -> None:
    times, scores, end_s = video
    min_s, max_s = 1.0, 1000.0  # no forced cuts: only scenes decide (clips ≤ 250 s)
    chunks = plan_chunks(times, scores, end_s, min_s=min_s, max_s=max_s)
    starts = [c.first_frame for c in chunks]
    for chunk in chunks[1:]:
        assert scores.get(chunk.first_frame, 0) >= 10  # every cut is a scene change
    for frame, score in scores.items():
        if score < 10 or frame == 0 or frame in starts:
            continue
        # A scene change that is not a cut lies within min_s of the chunk's start, or in
        # the short tail that joined the chunk before it.
        owner = max(s for s in starts if s <= frame)
        near_start = times[frame] - times[owner] < min_s
        in_tail = end_s - times[frame] < min_s
        assert near_start or in_tail, (frame, score, starts)


def test_a_clip_of_scenes_is_cut_exactly_at_them() -> None:
    times = [i / 25 for i in range(25 * 30)]  # 30 s at 25 fps
    scores = {25 * 7: 80.0, 25 * 15: 60.0, 25 * 16: 55.0, 25 * 24: 90.0}
    chunks = plan_chunks(times, scores, 30.0, min_s=4, max_s=20)
    # 15 s and 16 s are a second apart: the second is inside the minimum.
    assert [c.start_s for c in chunks] == [0.0, 7.0, 15.0, 24.0]
    assert [c.frame_count for c in chunks] == [175, 200, 225, 150]


def test_a_long_shot_is_split_at_its_most_changed_frame_or_evenly() -> None:
    times = [i / 10 for i in range(10 * 50)]  # one 50 s shot at 10 fps
    chunks = plan_chunks(times, {120: 4.0}, 50.0, min_s=4, max_s=20)
    # The faint change at 12 s is the best place in the first 20 s; then every 20 s.
    assert [c.start_s for c in chunks] == [0.0, 12.0, 32.0]
    assert all(c.duration_s <= 20 for c in chunks)
