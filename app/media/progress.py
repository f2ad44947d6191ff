"""Parsing FFmpeg's `-progress pipe:1 -nostats` output: sans-IO, line by line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    out_time_s: float
    speed: float | None
    finished: bool


class ProgressParser:
    """Collects `key=value` lines; a block ends at `progress=continue|end`."""

    def __init__(self) -> None:
        self._out_time_s = 0.0
        self._speed: float | None = None

    def feed_line(self, line: str) -> ProgressUpdate | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        value = value.strip()
        # `out_time_us` and, despite its name, `out_time_ms` are both microseconds.
        if key in ("out_time_us", "out_time_ms"):
            try:
                micros = int(value)
            except ValueError:
                return None
            if micros >= 0:
                self._out_time_s = micros / 1_000_000
        elif key == "speed":
            try:
                self._speed = float(value.rstrip("x"))
            except ValueError:
                self._speed = None
        elif key == "progress":
            return ProgressUpdate(self._out_time_s, self._speed, value == "end")
        return None
