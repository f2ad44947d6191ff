"""The job report's rows from reports shaped as servers send them, old and new: nothing
the server says is lost, odd values never break the screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.protocol import ErrorCode, ErrorInfo
from app.tui.job_report import report_rows
from app.tui.jobs import Step, TrackedJob


def rows_of(result: dict[str, Any], **fields: Any) -> dict[str, str]:
    job = TrackedJob(Path("/videos/clip.mp4"), "compress", {}, step=Step.DONE)
    job.input_size, job.result = 1_000_000, result
    for name, value in fields.items():
        setattr(job, name, value)
    return dict(report_rows(job))


def test_an_already_compressed_file_says_so_and_what_was_tried() -> None:
    rows = rows_of(
        {
            "output_size": 1_000_000,
            "reduction": 0,
            "outcome": "already_compressed",
            "note": "The input is already well compressed.",
            "codec": "h264",
            "tried": {"codec": "h264", "encoder": "libx264", "crf": 28.0},
            "metric": "vmaf",
            "target_vmaf": 93.0,
            "time_s": {"total": 3.2},
        }
    )
    assert rows["Sizes"] == "1.0 MB → 1.0 MB (0% smaller)"
    assert rows["Quality"] == "not measured (target VMAF 93)"
    assert rows["Tried"] == "h264 libx264 CRF 28"
    assert rows["Note"] == "The input is already well compressed."
    assert rows["Server time"] == "total 3.2 s"
    assert "More" not in rows


def test_ssim_where_the_server_has_no_libvmaf() -> None:
    rows = rows_of({"metric": "ssim", "ssim": 0.9812, "target_vmaf": 93, "target_ssim": 0.97})
    assert rows["Quality"] == "SSIM 0.9812 (target SSIM 0.97, for target VMAF 93)"


def test_every_stream_and_what_became_of_it() -> None:
    rows = rows_of(
        {
            "container": "mkv",
            "container_note": "mp4 cannot hold the font attachment",
            "source_orientation": "rotated 90° clockwise",
            "source_colour": "HDR10",
            "hdr": "kept (HEVC Main10)",
            "chapters": 3,
            "streams": [
                {
                    "index": 0,
                    "kind": "video",
                    "codec": "hevc",
                    "action": "encoded",
                    "encoder": "libx265",
                    "output_index": 0,
                },
                {
                    "index": 1,
                    "kind": "audio",
                    "codec": "truehd",
                    "language": "eng",
                    "title": "Atmos",
                    "action": "encoded",
                    "encoder": "aac",
                    "output_index": 1,
                },
                {
                    "index": 2,
                    "kind": "subtitle",
                    "codec": "hdmv_pgs_subtitle",
                    "action": "dropped",
                    "reason": "mp4 holds no picture subtitles",
                },
            ],
        }
    )
    assert rows["Container"] == "mkv (mp4 cannot hold the font attachment)"
    assert rows["Source"] == "rotated 90° clockwise, HDR10"
    assert rows["HDR"] == "kept (HEVC Main10)" and rows["Chapters"] == "3"
    assert rows["Streams"].splitlines() == [
        "#0 video hevc → encoded with libx265 as #0",
        "#1 audio truehd (eng, Atmos) → encoded with aac as #1",
        "#2 subtitle hdmv_pgs_subtitle → dropped: mp4 holds no picture subtitles",
    ]


def test_what_this_version_does_not_know_is_listed_not_hidden() -> None:
    rows = rows_of({"output_size": 10, "loudness": {"lufs": -16.1}, "grain": "kept"})
    assert rows["More"].splitlines() == ['loudness: {"lufs": -16.1}', 'grain: "kept"']


def test_a_failed_job_shows_its_error_and_solution() -> None:
    error = ErrorInfo(ErrorCode.NO_VIDEO, "The file has no video stream.", "Use audio.")
    rows = rows_of({}, step=Step.FAILED, error=error)
    assert rows["State"] == "failed"
    assert rows["Error"] == "no_video: The file has no video stream."
    assert rows["Solution"] == "Use audio."


def test_phases_only_for_a_job_watched_from_its_start() -> None:
    seen = {Step.WAITING: 0.0, Step.HASHING: 0.1, Step.QUEUED: 2.1, Step.RUNNING: 2.2}
    rows = rows_of({}, timeline={**seen, Step.DONE: 12.2})
    assert rows["Phases"] == "upload 2.0 s · queue 0.1 s · processing 10.0 s"
    adopted = rows_of({}, timeline={Step.QUEUED: 0.0, Step.DONE: 1.0})  # from a restart
    assert "Phases" not in adopted


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "vmaf",
        "ssim",
        "crf",
        "codec",
        "codecs",
        "streams",
        "search",
        "time_s",
        "tried",
        "width",
        "height",
        "start",
        "end",
        "fps",
        "chapters",
        "reduction",
        "output_size",
        "note",
        "x",
    ]
)


@settings(max_examples=400)
@given(st.dictionaries(KEYS, JSON, max_size=8))
@example({"codecs": 5, "search": {"trials": 5, "sample_s": 1, "sample_windows": "x"}})
@example({"streams": [{"index": True, "output_index": "1"}, 3], "time_s": {"a": "b"}})
@example({"tried": {"crf": "high"}, "start": 1, "end": None, "fps": True, "width": {}})
def test_any_report_gives_rows_of_text(result: dict[str, Any]) -> None:
    rows = report_rows(TrackedJob(Path("/v/a.mp4"), "compress", {}, step=Step.DONE, result=result))
    assert all(isinstance(name, str) and isinstance(text, str) for name, text in rows)


def test_a_chunked_compress_shows_its_spread_and_each_chunk() -> None:
    chunks = [
        {"index": i, "start_s": 4.2 * i, "end_s": 4.2 * (i + 1), "crf": 24.0 + 2 * i}
        | {"vmaf": 92.0 + i, "predicted_vmaf": 93.0, "frames": 100, "bytes": 1000}
        for i in range(14)
    ]
    rows = rows_of(
        {
            "chunks": chunks,
            "chunk_spread": {"crf_min": 24.0, "crf_max": 50.0, "vmaf_min": 92.0, "vmaf_max": 105},
            "chunked": {"chunk_encodes": 14, "chunks_reused": 0, "rounds": 1},
            "quality_scale": "vmaf",
        }
    )
    assert rows["Chunks"] == "14 chunks: CRF 24.0–50.0, VMAF 92.0–105.0"
    lines = rows["Each chunk"].splitlines()
    assert lines[0] == "0.0–4.2 s · CRF 24 · VMAF 92.0"
    assert len(lines) == 13 and lines[-1] == "… 2 more"
    assert "More" not in rows  # every chunk key is known


def test_a_compress_that_could_not_chunk_says_why() -> None:
    rows = rows_of({"chunked_fallback": "a chunk's frames are not the source's"})
    assert rows["Chunking"] == "not used: a chunk's frames are not the source's"
