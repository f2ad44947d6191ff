"""What `vcs` prints of a chunked compress's report: the chunks' spread in one line."""

from __future__ import annotations

import pytest

from app.cli.display import print_report


def test_a_chunked_report_shows_the_spread(capsys: pytest.CaptureFixture[str]) -> None:
    print_report(
        {
            "outcome": "compressed",
            "input_size": 10_000_000,
            "output_size": 4_000_000,
            "reduction": 0.6,
            "codec": "h264",
            "vmaf": 93.4,
            "chunks": [{"crf": 22.0}, {"crf": 30.0}],
            "chunk_spread": {"crf_min": 22.0, "crf_max": 30.0, "vmaf_min": 91.8, "vmaf_max": 96.1},
        }
    )
    shown = capsys.readouterr().err
    assert "2 chunks: CRF 22.0–30.0, VMAF 91.8–96.1" in shown
    assert "vmaf 93.4" in shown
