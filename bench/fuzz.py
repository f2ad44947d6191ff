"""Fuzz the MMP and raw upload decoders with hypothesis: 100k+ hostile streams, zero crashes.

    .venv/bin/python -m bench.fuzz [--cases 50000] [--write]

`--cases` is per decoder. The cases are the suite's (tests/support/fuzz_cases.py): mutated valid
streams, header-shaped garbage with out-of-range fields, random bytes, each cut into
random chunks. A crash is any exception other than RemoteProtocolError; the first one
stops the run and is printed, shrunk. Runs in rounds of fresh seeds so hypothesis's
memory stays flat.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from bench.report import stamp, table, write_section
from tests.support.fuzz_cases import mmp_streams, raw_streams, run_mmp_case, run_raw_case

ROUND = 2_500

Target = Callable[[list[bytes]], None]


@dataclass
class Outcome:
    name: str
    cases: int
    seconds: float
    crash: str | None

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


def _one_round(
    strategy: st.SearchStrategy[list[bytes]],
    target: Target,
    examples: int,
    seed_value: int,
    counter: list[int],
) -> None:
    @seed(seed_value)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(chunks=strategy)
    def run(chunks: list[bytes]) -> None:
        counter[0] += 1
        target(chunks)

    run()


def fuzz(
    name: str, strategy: st.SearchStrategy[list[bytes]], target: Target, cases: int
) -> Outcome:
    counter = [0]
    base = random.randrange(2**32)
    started = time.perf_counter()
    for round_no in range(10 * (cases // ROUND + 1)):
        if counter[0] >= cases:
            break
        try:
            _one_round(strategy, target, min(ROUND, cases - counter[0]), base + round_no, counter)
        except Exception:
            crash = traceback.format_exc()
            return Outcome(name, counter[0], time.perf_counter() - started, crash)
        print(f"  {name}: {counter[0]:,} cases", file=sys.stderr)
    return Outcome(name, counter[0], time.perf_counter() - started, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=50_000, help="cases per decoder")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    targets = [
        ("MMP decoder (both header dialects)", mmp_streams, run_mmp_case),
        ("raw upload decoder (3 prefix forms + ftyp check)", raw_streams, run_raw_case),
    ]
    outcomes = []
    for name, strategy, target in targets:
        print(f"fuzzing the {name} ...", file=sys.stderr)
        outcomes.append(fuzz(name, strategy, target, args.cases))
    # Reference from the same run: the cost of generating the cases alone.
    reference = fuzz("reference: raw cases into a no-op", raw_streams, lambda _: None, 5_000)
    rows = [
        [o.name, f"{o.cases:,}", f"{o.seconds:.0f} s", f"{o.rate:,.0f}", str(int(bool(o.crash)))]
        for o in [*outcomes, reference]
    ]
    crashes = [o for o in outcomes if o.crash]
    body = table(["target", "cases", "time", "cases/s", "crashes"], rows)
    total = sum(o.cases for o in outcomes)
    body += (
        f"\n{total:,} cases in all, {len(crashes)} crash(es). A crash is any exception other "
        "than RemoteProtocolError (the decoders' refusal with an error code).\n"
    )
    print(body)
    for o in crashes:
        print(f"CRASH in {o.name}:\n{o.crash}", file=sys.stderr)
    if args.write:
        command = f".venv/bin/python -m bench.fuzz --cases {args.cases} --write"
        write_section("fuzz", "Fuzzing", stamp(command) + "\n" + body)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
