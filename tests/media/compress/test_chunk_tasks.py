"""The pure parts of the chunked path: a chunk task's key and wire form, the frames a
run reads, the framecrc check, the concat list and the join's stream mapping, the
stitchable encoder options, the report's spread line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.client.report_lines import chunk_spread_line
from app.media.compress.allocation import ChunkCurve, RatePoint
from app.media.compress.chunk_correction import corrected_picks
from app.media.compress.chunk_encode import (
    ChunkMismatch,
    ChunkTask,
    EncodedChunk,
    PacketLog,
    check_same_headers,
    chunk_mismatch,
)
from app.media.compress.chunk_frames import frame_run, video_end_s
from app.media.compress.chunk_trials import bracketing_crfs
from app.media.compress.join import concat_list
from app.media.compress.metric import Metric, QualityTarget
from app.media.compress.plan import ENCODERS, AudioAction, AudioPlan, CompressPlan
from app.media.compress.scenes import SceneScan

TASK = ChunkTask(
    src="/storage/uploads/abc",
    index=2,
    first_frame=100,
    frame_count=50,
    seek_s=3.98,
    span_s=1.96,
    duration_s=2.0,
    video_index=0,
    prepare="format=yuv420p",
    codec_args=("-c:v", "libx264", "-crf", "24"),
    crf=24.0,
    threads=1,
)


def test_a_task_survives_its_wire_form_and_its_key_ignores_threads_and_place() -> None:
    doc = json.loads(json.dumps(TASK.to_json()))
    assert ChunkTask.from_json(doc) == TASK
    assert replace(TASK, threads=8, index=5, src="/elsewhere/copy").key == TASK.key
    assert replace(TASK, crf=25.0).key != TASK.key
    assert replace(TASK, codec_args=("-c:v", "libx264", "-crf", "25")).key != TASK.key
    assert replace(TASK, seek_s=4.0).key != TASK.key


def test_a_run_seeks_between_frames_and_ends_where_the_next_begins() -> None:
    times = tuple(i * 0.04 for i in range(10)) + tuple(0.4 + i * 0.08 for i in range(5))
    scan = SceneScan(times, {}, offset_s=0.5)
    end = video_end_s(scan)
    assert end == pytest.approx(0.72 + 0.08)
    run = frame_run(scan, 10, 5, end)
    assert run.seek_s == pytest.approx(0.5 + (0.36 + 0.4) / 2)
    assert (run.span_s, run.duration_s) == pytest.approx((0.32, 0.4))
    first = frame_run(scan, 0, 10, end)
    assert first.seek_s == 0.0 and first.duration_s == pytest.approx(0.4)
    # The window covers the run's frames and stops halfway to the next.
    window = run.window
    assert window.start_s + window.duration_s == pytest.approx(0.5 + 0.72 + 0.04)


def test_the_check_reads_framecrc_and_names_what_is_wrong() -> None:
    log = PacketLog()
    for line in [
        "#extradata 0:       39, 0xa38209b1",
        "#tb 0: 1/1000",
        *(f"0, {t - 80}, {t}, 40, 1234, 0xdeadbeef" for t in range(0, 50 * 40, 40)),
    ]:
        log.feed_line(line)
    times = log.result()
    assert (times.frames, times.headers) == (50, "39:0xa38209b1")
    assert chunk_mismatch(TASK, times) is None
    assert chunk_mismatch(replace(TASK, frame_count=49), times) == "50 frames instead of 49"
    assert "span" in (chunk_mismatch(replace(TASK, span_s=2.1), times) or "")


def chunk(index: int, headers: str = "39:0x1") -> EncodedChunk:
    path = Path(f"/work/chunk-{index}.nut")
    return EncodedChunk(index, "k", 24.0, path, 50, 2.0 + index / 3, 1000, headers)


def test_the_concat_list_names_each_chunk_with_its_exact_duration() -> None:
    text = concat_list([chunk(0), chunk(1)])
    assert text.splitlines() == [
        "ffconcat version 1.0",
        "file 'chunk-0.nut'",
        "duration 2.000000",
        "file 'chunk-1.nut'",
        "duration 2.333333",
    ]


def test_chunks_with_different_parameter_sets_are_not_joined() -> None:
    check_same_headers([chunk(0), chunk(1)])
    with pytest.raises(ChunkMismatch, match="parameter sets"):
        check_same_headers([chunk(0), chunk(1, "40:0x2")])


def test_stitchable_encodes_keep_headers_free_of_the_crf() -> None:
    x264 = replace(ENCODERS["h264"], stitchable=True)
    assert x264.video_args(24, for_mp4=True)[-2:] == ["-x264-params", "stitchable=1"]
    assert "-x264-params" not in ENCODERS["h264"].video_args(24, for_mp4=True)
    x265 = replace(ENCODERS["h265"], stitchable=True).video_args(24, for_mp4=False)
    assert x265[x265.index("-x265-params") + 1] == "log-level=error:info=0"


def test_the_spread_line() -> None:
    report = {
        "chunks": [{}, {}, {}],
        "chunk_spread": {"crf_min": 21.0, "crf_max": 27.5, "vmaf_min": 92.14, "vmaf_max": 95.3},
    }
    assert chunk_spread_line(report) == "3 chunks: CRF 21.0–27.5, VMAF 92.1–95.3"
    assert chunk_spread_line({"crf": 23}) is None
    on_nodes = {**report, "chunked": {"nodes": {"node-a": 2, "node-b": 1}}}
    assert chunk_spread_line(on_nodes) == "3 chunks: CRF 21.0–27.5, VMAF 92.1–95.3, on 2 nodes"


def curve(frames: int, *points: tuple[float, float, float]) -> ChunkCurve:
    return ChunkCurve(frames, tuple(RatePoint(*p) for p in points))


def test_a_chunk_that_missed_its_prediction_gets_a_lower_crf_and_only_it() -> None:
    curves = [
        curve(100, (20, 300, 97), (26, 150, 93), (32, 80, 88)),
        curve(100, (20, 200, 98), (26, 120, 95), (32, 60, 91)),
    ]
    picks = [curves[0].points[1], curves[1].points[0]]  # 93 and 98 predicted
    # Chunk 0 came out 6 under its prediction; chunk 1, at its lowest CRF tried, as
    # predicted: only chunk 0 can make up for it.
    again = corrected_picks(curves, picks, [87.0, 98.0], 93.0, 3.0, 10, raise_only=True)
    assert again[0].crf < 26 and again[1] == picks[1]


def test_a_result_well_over_the_target_tries_cheaper_chunks() -> None:
    curves = [curve(100, (20, 300, 97), (26, 150, 93), (32, 80, 88))]
    picks = [curves[0].points[1]]
    again = corrected_picks(curves, picks, [97.0], 93.0, 3.0, 10, raise_only=False)
    assert again[0].crf > 26


def test_tries_that_do_not_reach_the_target_get_one_more() -> None:
    plan = replace(plan_compress_for_tests(), video=ENCODERS["h264"])
    still = [RatePoint(18, 100, 99.8), RatePoint(24, 90, 99.5), RatePoint(30, 80, 99.0)]
    assert bracketing_crfs(still, plan, 3.0) == (38.0,)
    grain = [RatePoint(18, 900, 85), RatePoint(24, 500, 80), RatePoint(30, 200, 70)]
    assert bracketing_crfs(grain, plan, 3.0) == (10.0,)
    fine = [RatePoint(18, 900, 97), RatePoint(24, 500, 93.5), RatePoint(30, 200, 88)]
    assert bracketing_crfs(fine, plan, 3.0) == ()


def plan_compress_for_tests() -> CompressPlan:
    return CompressPlan(
        ENCODERS["h264"], AudioPlan(AudioAction.NONE), QualityTarget.for_vmaf(93, Metric.VMAF)
    )
