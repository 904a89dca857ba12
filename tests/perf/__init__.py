"""Benchmarks of issue 6 (not collected by pytest): python -m tests.perf.bench."""
