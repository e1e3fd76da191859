"""Benchmarks: speed and memory, run on demand (`python -m shelfgraph.eval.bench.<name>`), recorded in docs/benchmarks.md."""
