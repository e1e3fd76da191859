"""Benchmarks: speed and memory, run on demand (`python -m eval.bench.<name>`), recorded in docs/benchmarks.md."""
