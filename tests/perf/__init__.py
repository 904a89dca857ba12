"""The benchmark (python -m tests.perf.bench), the profiler (python -m tests.perf.profiling) and their
building blocks; only test_bench_smoke.py is collected by pytest (docs/PERFORMANCE.md)."""
