"""Benchmarks: scripts that measure. Never run by the test suite."""
