"""After the whole result is scored: new CRFs for the chunks that missed (pure).

Each chunk's trial curve is moved by what its encode missed the prediction by (the
chunk's frames in the whole-file score against the pick's predicted VMAF) and the
allocation runs again on the moved curves. Under the target, only chunks whose quality
goes up change (the others keep their encodes); over the target by more than the band,
any chunk may change (a cheaper result that still meets it). If nothing would change
under the target, the worst chunk steps down the CRF by CORRECTION_STEP_CRF.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from app.media.compress.allocation import ChunkCurve, RatePoint, allocate, densify

# How far over the target a result may score before a cheaper one is tried.
TARGET_BAND_VMAF: Final = 0.5
CORRECTION_STEP_CRF: Final = 2.0


def moved_curves(
    curves: Sequence[ChunkCurve], picks: Sequence[RatePoint], measured: Sequence[float | None]
) -> list[ChunkCurve]:
    moved = []
    for curve, pick, got in zip(curves, picks, measured, strict=True):
        miss = 0.0 if got is None else got - pick.vmaf
        points = tuple(RatePoint(p.crf, p.bytes, p.vmaf + miss) for p in curve.points)
        moved.append(ChunkCurve(curve.frames, points))
    return moved


def corrected_picks(
    curves: Sequence[ChunkCurve],
    picks: Sequence[RatePoint],
    measured: Sequence[float | None],
    target_vmaf: float,
    floor_gap: float,
    crf_min: float,
    *,
    raise_only: bool,
) -> list[RatePoint]:
    """The next picks (the trials' own points, so their VMAF stays the prediction)."""
    again = allocate(moved_curves(curves, picks, measured), target_vmaf, floor_gap)
    own = [{p.crf: p for p in densify(c.points)} for c in curves]
    better = [
        own[i].get(new.crf, new) if (new.crf < old.crf or not raise_only) else old
        for i, (new, old) in enumerate(zip(again.picks, picks, strict=True))
    ]
    if better != list(picks) or not raise_only:
        return better
    scored = [(m, i) for i, m in enumerate(measured) if m is not None]
    if not scored:
        return better
    _, worst = min(scored)
    step_crf = max(crf_min, picks[worst].crf - CORRECTION_STEP_CRF)
    if step_crf < picks[worst].crf:
        # Off the measured points: its VMAF is the old prediction plus what it missed by.
        got = measured[worst]
        better[worst] = RatePoint(step_crf, picks[worst].bytes, got if got is not None else 0.0)
    return better
