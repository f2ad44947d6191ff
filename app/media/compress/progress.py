"""One progress figure for a whole compress job, over its phases (search, encode, measure)."""

from __future__ import annotations

from collections.abc import Callable

from app.media.compress.search import SearchResult
from app.media.runner import Progress

PhaseReport = Callable[[Progress, str], None]  # (progress, phase name)


class CompressProgress:
    """The search takes its expected share first, then the final encode and its scoring
    split the rest by their estimated times."""

    def __init__(self, report: PhaseReport, search_share: float) -> None:
        self._report = report
        self._search_share = search_share
        self._encode_share = 1.0
        self._measure_s = 0.0
        self._encoded = 0.0

    def searching(self, fraction: float, eta_s: float | None) -> None:
        self._report(Progress(fraction * self._search_share, eta_s), "searching")

    def search_done(self, search: SearchResult, *, scored_while_encoding: bool) -> None:
        if scored_while_encoding:
            return  # one FFmpeg run does both: its progress is the rest of the job's
        total = search.final_encode_s + search.final_measure_s
        self._encode_share = search.final_encode_s / total if total > 0 else 0.85
        self._measure_s = search.final_measure_s

    def encoding(self, progress: Progress) -> None:
        # Scoring while encoding, FFmpeg's out_time follows the furthest output, which
        # can briefly be the metric's as the encoder finishes: never go back.
        self._encoded = max(self._encoded, progress.fraction)
        rest = 1 - self._search_share
        fraction = self._search_share + rest * self._encode_share * self._encoded
        eta = None if progress.eta_s is None else progress.eta_s + self._measure_s
        self._report(Progress(fraction, eta), "encoding")

    def measuring(self, fraction: float) -> None:
        start = self._search_share + (1 - self._search_share) * self._encode_share
        remaining = self._measure_s * (1 - fraction)
        self._report(Progress(start + (1 - start) * fraction, remaining), "measuring")
