"""What an operator can scrape: counters and gauges in Prometheus' text format (0.0.4).

Counters are counted where things happen (`Metrics.count_*`); gauges are read from the
server's state at scrape time (`Gauges`), so they can never drift from it. The list of
metrics, with what each means, is in docs/operations.md ("Metrics").
"""

from __future__ import annotations

import collections
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

# Upload rate: bytes received over this trailing window.
RATE_WINDOW_S: Final = 10.0
_RATE_BUCKET_S: Final = 1.0

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: Labels, value: float) -> str:
    text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels)
    number = repr(float(value)) if isinstance(value, float) else str(value)
    return f"{name}{{{text}}} {number}" if text else f"{name} {number}"


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kind: str  # counter | gauge
    help: str
    samples: tuple[tuple[Labels, float], ...]

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += [_sample(self.name, labels, value) for labels, value in self.samples]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Gauges:
    """Readings of the server's state, taken at scrape time."""

    jobs: Callable[[], Iterable[tuple[str, str]]]  # (op, state) of every known job
    queued: Callable[[], int]
    quota_used_bytes: Callable[[], int]
    quota_limit_bytes: Callable[[], int]
    connections: Callable[[], int]
    draining: Callable[[], bool]


class _RateWindow:
    """Bytes per second over the last RATE_WINDOW_S, from per-second buckets."""

    def __init__(self) -> None:
        self._buckets: collections.deque[list[float]] = collections.deque()

    def add(self, nbytes: int, now: float) -> None:
        start = now - now % _RATE_BUCKET_S
        if not self._buckets or self._buckets[-1][0] != start:
            self._buckets.append([start, 0.0])
        self._buckets[-1][1] += nbytes
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - RATE_WINDOW_S:
            self._buckets.popleft()

    def per_second(self, now: float) -> float:
        self._trim(now)
        return sum(bucket[1] for bucket in self._buckets) / RATE_WINDOW_S


class Metrics:
    """The server's counters (one object per server) and its text exposition."""

    def __init__(self) -> None:
        self._jobs_finished: collections.Counter[tuple[str, str]] = collections.Counter()
        self._jobs_accepted: collections.Counter[str] = collections.Counter()
        self._refusals: collections.Counter[tuple[str, str]] = collections.Counter()
        self._handshake_refusals: collections.Counter[str] = collections.Counter()
        self._bytes: collections.Counter[tuple[str, str]] = collections.Counter()
        self._upload_rate = _RateWindow()
        self.gauges: Gauges | None = None

    def count_job_accepted(self, op: str) -> None:
        self._jobs_accepted[op] += 1

    def count_job_finished(self, op: str, state: str) -> None:
        self._jobs_finished[(op, state)] += 1

    def count_refusal(self, port: str, code: str) -> None:
        """An error answer to a request or connection (port: mmp or raw)."""
        self._refusals[(port, code)] += 1

    def count_handshake_refusal(self, code: str) -> None:
        self._handshake_refusals[code] += 1

    def count_received(self, port: str, nbytes: int) -> None:
        """Payload bytes stored from uploads."""
        self._bytes[("in", port)] += nbytes
        self._upload_rate.add(nbytes, time.monotonic())

    def count_sent(self, port: str, nbytes: int) -> None:
        """Result bytes sent to clients."""
        self._bytes[("out", port)] += nbytes

    def families(self) -> list[Family]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        families = [
            Family(
                "vcs_jobs_accepted_total",
                "counter",
                "Uploads stored and queued as jobs, by op.",
                tuple(((("op", op),), n) for op, n in sorted(self._jobs_accepted.items())),
            ),
            Family(
                "vcs_jobs_finished_total",
                "counter",
                "Jobs that ended, by op and final state (done, failed, cancelled).",
                tuple(
                    ((("op", op), ("state", state)), n)
                    for (op, state), n in sorted(self._jobs_finished.items())
                ),
            ),
            Family(
                "vcs_transfer_bytes_total",
                "counter",
                "Payload bytes received (direction=in: uploads) and sent (out: results).",
                tuple(
                    ((("direction", d), ("port", port)), n)
                    for (d, port), n in sorted(self._bytes.items())
                ),
            ),
            Family(
                "vcs_upload_bytes_per_second",
                "gauge",
                f"Upload bytes stored per second over the last {RATE_WINDOW_S:g} s.",
                (((), self._upload_rate.per_second(time.monotonic())),),
            ),
            Family(
                "vcs_refusals_total",
                "counter",
                "Error answers sent, by port and error code (docs/protocol.md, Errors).",
                tuple(
                    ((("port", port), ("code", code)), n)
                    for (port, code), n in sorted(self._refusals.items())
                ),
            ),
            Family(
                "vcs_handshake_refusals_total",
                "counter",
                "Key exchanges refused, by error code.",
                tuple(((("code", c),), n) for c, n in sorted(self._handshake_refusals.items())),
            ),
            Family(
                "vcs_ffmpeg_cpu_seconds_total",
                "counter",
                "CPU time (user + system) of the FFmpeg and probe processes that have ended.",
                (((), round(children.ru_utime + children.ru_stime, 3)),),
            ),
        ]
        if self.gauges is not None:
            families += self._gauge_families(self.gauges)
        return families

    @staticmethod
    def _gauge_families(gauges: Gauges) -> list[Family]:
        by_state = collections.Counter(gauges.jobs())
        return [
            Family(
                "vcs_jobs",
                "gauge",
                "Jobs the server knows now, by op and state (ended jobs until they expire).",
                tuple(
                    ((("op", op), ("state", state)), n)
                    for (op, state), n in sorted(by_state.items())
                ),
            ),
            Family(
                "vcs_queue_length",
                "gauge",
                "Jobs waiting for an FFmpeg slot, uploads in progress included.",
                (((), gauges.queued()),),
            ),
            Family(
                "vcs_quota_used_bytes",
                "gauge",
                "Storage bytes held.",
                (((), gauges.quota_used_bytes()),),
            ),
            Family(
                "vcs_quota_limit_bytes",
                "gauge",
                "The storage quota (--quota).",
                (((), gauges.quota_limit_bytes()),),
            ),
            Family(
                "vcs_connections",
                "gauge",
                "Open client connections.",
                (((), gauges.connections()),),
            ),
            Family(
                "vcs_draining",
                "gauge",
                "1 while the server drains (takes no new uploads) or stops.",
                (((), int(gauges.draining())),),
            ),
        ]

    def render(self) -> str:
        return "\n".join(family.render() for family in self.families()) + "\n"
