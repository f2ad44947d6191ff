"""The chunked compress job end to end with real FFmpeg, on a generated clip of four
shots (different content and motion, variable frame rate, audio, subtitles): chunks on
the cuts, every frame once at its own time, every stream kept, resume after an
interruption without encoding a finished chunk again, early return of a tight input."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest
import trio

from app.media.compress.chunk_job import ChunkedRuns, ChunkingOptions
from app.media.compress.chunked_pipeline import compress_chunked
from app.media.compress.pipeline import CompressOutcome, CompressRequest
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.runner import Progress
from app.media.upload_probe import probe_upload
from tests.support.fidelity_media import SCENE_S, ffmpeg, multi_scene_clip

TARGET_VMAF = 93.0


@dataclass
class Runs:
    src: Path
    out: Path
    work: Path
    interrupted: ChunkedRuns
    finished: ChunkedRuns
    outcome: CompressOutcome
    again: ChunkedRuns
    again_outcome: CompressOutcome


async def run_job(
    src: Path,
    out: Path,
    work: Path,
    counters: ChunkedRuns,
    *,
    stop_after_chunks: int = 0,
    options: ChunkingOptions | None = None,
) -> CompressOutcome | None:
    info = await probe_upload(src)
    request = CompressRequest(find_ffmpeg(), src, info, None, TARGET_VMAF, out, info.size_bytes)
    with trio.CancelScope() as scope:

        def on_progress(progress: Progress, phase: str) -> None:
            if stop_after_chunks and len(counters.done_chunks) >= stop_after_chunks:
                scope.cancel()  # as a shutdown would, mid-encode

        return await compress_chunked(
            request, work, on_progress, options or ChunkingOptions(), counters
        )
    return None


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """One job interrupted after its first chunk, then run again to the end on the same
    work directory, then once more."""
    root = tmp_path_factory.mktemp("chunked")
    src = multi_scene_clip(root / "shots.mkv")
    out, work = root / "result.part", root / "work"
    interrupted, finished, again = ChunkedRuns(), ChunkedRuns(), ChunkedRuns()
    assert trio.run(lambda: run_job(src, out, work, interrupted, stop_after_chunks=1)) is None
    outcome = trio.run(lambda: run_job(src, out, work, finished))
    again_outcome = trio.run(lambda: run_job(src, out, work, again))
    assert outcome is not None and again_outcome is not None
    return Runs(src, out, work, interrupted, finished, outcome, again, again_outcome)


def video_times(path: Path) -> list[Fraction]:
    """Every video packet's presentation time, in order (no decoding)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        times = [
            packet.pts * stream.time_base
            for packet in container.demux(stream)
            if packet.pts is not None and packet.size
        ]
    return sorted(times)


def streams_of(path: Path) -> list[tuple[str, str, float, float]]:
    """(kind, codec, start, end) of every stream, from its packets."""
    found = []
    with av.open(str(path)) as container:
        for stream in container.streams:
            assert stream.time_base is not None
            packets = [p for p in container.demux(stream) if p.pts is not None and p.size]
            container.seek(0)
            start = min(p.pts for p in packets) * stream.time_base
            end = max((p.pts + (p.duration or 0)) for p in packets) * stream.time_base
            found.append((stream.type, stream.codec_context.name, float(start), float(end)))
    return found


def test_chunks_start_at_the_scene_cuts(runs: Runs) -> None:
    chunks = runs.outcome.report["chunks"]
    assert [c["start_s"] for c in chunks] == pytest.approx(
        [0.0, SCENE_S, 2 * SCENE_S, 3 * SCENE_S], abs=0.05
    )
    assert sum(c["frames"] for c in chunks) == len(video_times(runs.src))


def test_the_joined_result_has_every_frame_once_at_its_own_time(runs: Runs) -> None:
    assert runs.outcome.media_type is not None
    source, result = video_times(runs.src), video_times(runs.out)
    assert len(result) == len(source)
    worst = max(abs(float(a - b)) for a, b in zip(source, result, strict=True))
    # Matroska stores milliseconds; the result's own time base rounds no further.
    assert worst <= 0.0015, worst
    # The source is variable-rate; so is the result (25 and 12.5 fps parts).
    gaps = {round(float(b - a), 3) for a, b in itertools.pairwise(result)}
    assert {0.04, 0.08} <= gaps


def test_every_stream_is_kept_and_the_sound_stays_in_sync(runs: Runs) -> None:
    source = streams_of(runs.src)
    result = streams_of(runs.out)
    assert [s[0] for s in result] == ["video", "audio", "subtitle"]
    (_, _, a_start, a_end), (_, _, b_start, b_end) = source[1], result[1]
    assert b_start == pytest.approx(a_start, abs=0.03)
    assert b_end == pytest.approx(a_end, abs=0.05)
    video_start = result[0][2]
    assert video_start == pytest.approx(source[0][2], abs=0.002)


def test_the_report_gives_each_chunk_and_the_spread(runs: Runs) -> None:
    report = runs.outcome.report
    assert report["outcome"] == "compressed"
    assert report["quality_measured_on"].startswith("whole file")
    rows = report["chunks"]
    assert all(set(row) >= {"crf", "predicted_vmaf", "vmaf", "bytes", "end_s"} for row in rows)
    spread = report["chunk_spread"]
    assert spread["crf_min"] == min(r["crf"] for r in rows)
    assert spread["vmaf_max"] == max(r["vmaf"] for r in rows)
    # The whole file meets the target, or the correction rounds ran out trying.
    assert report["vmaf"] >= TARGET_VMAF - 0.5 or report["chunked"]["rounds"] == 3
    assert runs.out.stat().st_size < runs.src.stat().st_size


def test_an_interrupted_job_resumes_without_encoding_a_finished_chunk_again(runs: Runs) -> None:
    finished_before = set(runs.interrupted.done_chunks)
    assert 1 <= len(finished_before) < runs.outcome.report["chunked"]["chunks"]
    # The rerun measured nothing again (every trial ran before the first encode) and
    # reused the chunks the interrupted run had finished.
    assert runs.finished.trial_encodes == 0
    assert runs.finished.chunks_reused >= len(finished_before)
    first_round = {chunk for round_, chunk in runs.finished.encoded_in_round if round_ == 1}
    assert first_round and not finished_before & first_round
    # A third run finds everything done: no FFmpeg encode at all, the same result.
    assert (runs.again.chunk_encodes, runs.again.trial_encodes) == (0, 0)
    assert runs.again_outcome.report["chunks"] == runs.outcome.report["chunks"]


def test_a_tight_input_comes_back_before_its_encode_finishes(tmp_path: Path) -> None:
    # AV1 at a low rate: H.264 needs more bits than that for the same picture, so the
    # chunks outgrow it before they are all encoded.
    av1 = ("-c:v", "libsvtav1", "-preset", "10", "-crf", "50")
    src = multi_scene_clip(tmp_path / "tight.mkv", video_args=av1)
    counters = ChunkedRuns()
    # Past the prediction (which alone would return it unencoded): the running size.
    options = ChunkingOptions(skip_predicted_ratio=math.inf)
    outcome = trio.run(
        lambda: run_job(src, tmp_path / "out.part", tmp_path / "work", counters, options=options)
    )
    assert outcome is not None and outcome.media_type is None
    assert outcome.report["outcome"] == "already_compressed"
    assert "already well compressed" in outcome.report["note"]
    assert counters.chunk_encodes < outcome.report["chunked"]["chunks"]
    # And by the prediction: nothing encoded at all.
    predicted = ChunkedRuns()
    outcome = trio.run(lambda: run_job(src, tmp_path / "out2.part", tmp_path / "work", predicted))
    assert outcome is not None and outcome.report["outcome"] == "already_compressed"
    assert predicted.chunk_encodes == 0 and predicted.trial_encodes == 0


def test_a_timeline_the_encode_retimes_is_compressed_in_one_piece(tmp_path: Path) -> None:
    # Two copies of a clip joined by the concat demuxer (the second placed after the
    # first's audio, which starts 21 ms early): FFmpeg's encode moves the frames on one
    # side of the joint by ~20 ms, so a chunk across it has not the source's frame times.
    part = multi_scene_clip(tmp_path / "part.mkv", shots=3)
    listing = tmp_path / "parts.txt"
    listing.write_text(f"file '{part.name}'\nfile '{part.name}'\n")
    src = tmp_path / "joined.mkv"
    ffmpeg("-f", "concat", "-i", str(listing), "-map", "0", "-c", "copy", str(src))
    counters = ChunkedRuns()
    options = ChunkingOptions(min_s=13.0, max_s=30.0)  # one chunk: the joint inside it
    outcome = trio.run(
        lambda: run_job(src, tmp_path / "out.part", tmp_path / "work", counters, options=options)
    )
    assert outcome is not None and outcome.report["outcome"] == "compressed"
    assert outcome.report["chunked_fallback"].startswith("chunk 0:")
    assert "chunks" not in outcome.report and outcome.report["search"]["trials"]
    assert len(video_times(tmp_path / "out.part")) == len(video_times(src))
