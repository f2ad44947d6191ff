"""Choosing each chunk's CRF so the whole file meets its quality with the fewest bytes.

Each chunk has a few measured (CRF, bytes, VMAF) points, filled in between by
interpolation (bytes log-linear in CRF, VMAF linear in ln(100 − VMAF), as the search
does for whole files). The whole file's quality is the frame-weighted mean VMAF of its
chunks. Minimising total bytes subject to that mean ≥ target is a knapsack over each
chunk's lower convex hull of bytes vs quality; walking the hulls greedily — always
buying the step with the most quality per byte — is the Lagrangian (equal-slope)
solution of Netflix's dynamic optimizer and Av1an's target-quality mode taken one step
further: chunks whose quality is cheap get more of it, costly chunks less, instead of
the same VMAF everywhere. A floor keeps every chunk within `floor_gap` of the target,
so no scene is sacrificed for the average (docs/compression.md, "Chunks").
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

DEFAULT_FLOOR_GAP: Final = 3.0  # VMAF points a chunk may fall below the target
_VMAF_CEILING: Final = 99.999  # ln(100 − VMAF) needs VMAF < 100


@dataclass(frozen=True, slots=True)
class RatePoint:
    """One encode of a chunk (measured, or interpolated between measured ones)."""

    crf: float
    bytes: float
    vmaf: float


@dataclass(frozen=True, slots=True)
class ChunkCurve:
    frames: int
    points: tuple[RatePoint, ...]  # measured points, any order


@dataclass(frozen=True, slots=True)
class Allocation:
    picks: tuple[RatePoint, ...]  # one per chunk, in order
    vmaf: float  # the frame-weighted mean of the picks
    bytes: float
    # False when even the best measured point of every chunk misses the target (or a
    # floor): the picks are then the best there are.
    meets_target: bool


def _loss(vmaf: float) -> float:
    return math.log(100.0 - min(vmaf, _VMAF_CEILING))


def densify(points: Sequence[RatePoint], step: float = 1.0) -> tuple[RatePoint, ...]:
    """The measured points plus interpolated ones every `step` CRF between them (never
    beyond the measured range: extrapolated quality is a guess)."""
    measured = sorted({p.crf: p for p in points}.values(), key=lambda p: p.crf)
    dense = list(measured)
    for low, high in itertools.pairwise(measured):
        crf = low.crf + step
        while crf < high.crf - 1e-9:
            t = (crf - low.crf) / (high.crf - low.crf)
            size = math.exp(
                (1 - t) * math.log(max(low.bytes, 1.0)) + t * math.log(max(high.bytes, 1.0))
            )
            loss = (1 - t) * _loss(low.vmaf) + t * _loss(high.vmaf)
            dense.append(RatePoint(round(crf, 3), size, 100.0 - math.exp(loss)))
            crf += step
    return tuple(sorted(dense, key=lambda p: p.crf))


def lower_hull(points: Sequence[RatePoint]) -> tuple[RatePoint, ...]:
    """The points on the efficient frontier: ordered by bytes, each more quality than the
    last, with quality per byte falling (concave), as a greedy walk needs."""
    by_size = sorted(points, key=lambda p: (p.bytes, -p.vmaf))
    frontier: list[RatePoint] = []
    for point in by_size:
        if frontier and point.vmaf <= frontier[-1].vmaf:
            continue  # costs more, gives no more
        while len(frontier) >= 2 and not _turns_down(frontier[-2], frontier[-1], point):
            frontier.pop()
        frontier.append(point)
    return tuple(frontier)


def _turns_down(a: RatePoint, b: RatePoint, c: RatePoint) -> bool:
    """Whether b lies above the line from a to c (so the slope falls at b)."""
    return (b.vmaf - a.vmaf) * (c.bytes - a.bytes) > (c.vmaf - a.vmaf) * (b.bytes - a.bytes)


def allocate(
    curves: Sequence[ChunkCurve], target_vmaf: float, floor_gap: float = DEFAULT_FLOOR_GAP
) -> Allocation:
    """Each chunk's point: fewest total bytes with frame-weighted VMAF ≥ target and no
    chunk below target − floor_gap (where its points allow)."""
    if not curves:
        return Allocation((), 0.0, 0.0, meets_target=False)
    floor = target_vmaf - floor_gap
    hulls: list[tuple[RatePoint, ...]] = []
    position: list[int] = []
    meets = True
    for curve in curves:
        hull = lower_hull(densify(curve.points))
        # Start at the cheapest point that keeps the floor (or the best there is).
        start = next((i for i, p in enumerate(hull) if p.vmaf >= floor), len(hull) - 1)
        meets = meets and hull[start].vmaf >= floor
        hulls.append(hull)
        position.append(start)
    total_frames = sum(c.frames for c in curves)
    weighted = sum(c.frames * hulls[i][position[i]].vmaf for i, c in enumerate(curves))
    goal = target_vmaf * total_frames

    # Steps up each hull, best quality per byte first; a chunk's next step is pushed
    # when its current one is taken (the hull is concave, so its slopes only fall).
    steps: list[tuple[float, int]] = []

    def push_step(i: int) -> None:
        here, hull = position[i], hulls[i]
        if here + 1 < len(hull):
            gain = curves[i].frames * (hull[here + 1].vmaf - hull[here].vmaf)
            cost = max(hull[here + 1].bytes - hull[here].bytes, 1e-9)
            heapq.heappush(steps, (-gain / cost, i))

    for i in range(len(curves)):
        push_step(i)
    while weighted < goal - 1e-9 and steps:
        _, i = heapq.heappop(steps)
        hull = hulls[i]
        weighted += curves[i].frames * (hull[position[i] + 1].vmaf - hull[position[i]].vmaf)
        position[i] += 1
        push_step(i)
    # The last step bought may overshoot: give back steps the goal can spare, biggest
    # saving first.
    while True:
        spare = [
            (hulls[i][position[i]].bytes - hulls[i][position[i] - 1].bytes, i)
            for i in range(len(curves))
            if position[i] > 0
            and hulls[i][position[i] - 1].vmaf >= floor
            and weighted
            - curves[i].frames * (hulls[i][position[i]].vmaf - hulls[i][position[i] - 1].vmaf)
            >= goal - 1e-9
        ]
        if not spare:
            break
        _, i = max(spare)
        weighted -= curves[i].frames * (hulls[i][position[i]].vmaf - hulls[i][position[i] - 1].vmaf)
        position[i] -= 1
    picks = _improve(curves, [hulls[i][position[i]] for i in range(len(curves))], goal, floor)
    greedy = _allocation(curves, picks, target_vmaf, floor, meets)
    uniform = _best_single_crf(curves, target_vmaf, floor)
    # Never worse than one CRF for the whole file.
    if uniform is not None and uniform.bytes < greedy.bytes and uniform.meets_target:
        return uniform
    return greedy


def pareto_front(points: Sequence[RatePoint]) -> tuple[RatePoint, ...]:
    """Points no other point beats on both bytes and quality, cheapest first."""
    front: list[RatePoint] = []
    for point in sorted(points, key=lambda p: (p.bytes, -p.vmaf)):
        if not front or point.vmaf > front[-1].vmaf:
            front.append(point)
    return tuple(front)


# Passes of pairwise exchange after the hull walk; each either saves bytes or stops.
MAX_IMPROVE_PASSES: Final = 8
MAX_STEPS_UP: Final = 3


def _improve(
    curves: Sequence[ChunkCurve], picks: list[RatePoint], goal: float, floor: float
) -> tuple[RatePoint, ...]:
    """Pairwise exchange between chunks off the hull's vertices: one chunk one step up
    its frontier, another as far down as the goal then allows — kept when it saves
    bytes. It closes most of the gap a discrete hull walk leaves (the last step
    bought whole)."""
    fronts = [pareto_front([p for p in densify(c.points) if p.vmaf >= floor]) for c in curves]
    weights = [c.frames for c in curves]
    current = list(picks)
    weighted = sum(w * p.vmaf for w, p in zip(weights, current, strict=True))
    for _ in range(MAX_IMPROVE_PASSES):
        improved = False
        for i, front in enumerate(fronts):
            ups = [p for p in front if p.vmaf > current[i].vmaf][:MAX_STEPS_UP]
            best: tuple[float, int, RatePoint, RatePoint] | None = None
            for up in ups:
                gain = weights[i] * (up.vmaf - current[i].vmaf)
                spare = weighted + gain - goal
                extra = up.bytes - current[i].bytes
                for j, other in enumerate(fronts):
                    if j == i:
                        continue
                    # The cheapest point of chunk j the spare quality can pay for (the
                    # front is cheapest first, and cheaper means less quality).
                    for candidate in other:
                        loss = weights[j] * (current[j].vmaf - candidate.vmaf)
                        if candidate.bytes >= current[j].bytes or loss > spare + 1e-9:
                            continue
                        saving = current[j].bytes - candidate.bytes - extra
                        if saving > 1e-9 and (best is None or saving > best[0]):
                            best = (saving, j, up, candidate)
                        break
            if best is not None:
                _, j, up, candidate = best
                weighted += weights[i] * (up.vmaf - current[i].vmaf)
                weighted -= weights[j] * (current[j].vmaf - candidate.vmaf)
                current[i], current[j] = up, candidate
                improved = True
        if not improved:
            break
    return tuple(current)


def _allocation(
    curves: Sequence[ChunkCurve],
    picks: tuple[RatePoint, ...],
    target_vmaf: float,
    floor: float,
    floors_met: bool = True,
) -> Allocation:
    frames = sum(c.frames for c in curves)
    vmaf = sum(c.frames * p.vmaf for c, p in zip(curves, picks, strict=True)) / frames
    meets = floors_met and vmaf >= target_vmaf - 1e-9 and all(p.vmaf >= floor for p in picks)
    return Allocation(picks, vmaf, sum(p.bytes for p in picks), meets_target=meets)


def _best_single_crf(
    curves: Sequence[ChunkCurve], target_vmaf: float, floor: float
) -> Allocation | None:
    """The cheapest allocation with one CRF for every chunk (among the CRFs every
    chunk's points cover), as the one-piece path would choose."""
    dense = [{p.crf: p for p in densify(c.points)} for c in curves]
    common = set.intersection(*(set(d) for d in dense))
    best: Allocation | None = None
    for crf in sorted(common):
        candidate = _allocation(curves, tuple(d[crf] for d in dense), target_vmaf, floor)
        if candidate.meets_target and (best is None or candidate.bytes < best.bytes):
            best = candidate
    return best
