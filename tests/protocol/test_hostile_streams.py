"""Fuzzing both decoders with a fixed budget (bench/fuzz.py runs the same cases 100k+ times)."""

from __future__ import annotations

from hypothesis import given, settings

from tests.support.fuzz_cases import mmp_streams, raw_streams, run_mmp_case, run_raw_case


@settings(max_examples=600, deadline=None)
@given(chunks=mmp_streams)
def test_hostile_mmp_streams_decode_or_raise_remote_errors(chunks: list[bytes]) -> None:
    run_mmp_case(chunks)


@settings(max_examples=800, deadline=None)
@given(chunks=raw_streams)
def test_hostile_raw_streams_decode_or_raise_remote_errors(chunks: list[bytes]) -> None:
    run_raw_case(chunks)
