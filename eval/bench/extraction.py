"""Benchmark: titles per second of the extraction baseline's prediction (training excluded).

    python -m shelfgraph.eval.bench.extraction [--train T.jsonl] [--test T.jsonl] [--repeat 10] [--workers 2]

Trains the registered `imputation/baseline` step on TRAIN (or loads it with --model), then
times `predict` over the TEST titles repeated --repeat times, in --workers processes that
each load the saved model. Prints one JSON object: wall-clock titles/s, and titles per CPU
second (what one core gives when the machine is shared and wall time says little).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from shelfgraph.eval.datasets import known_attributes, load_records, record_to_product
from shelfgraph import registry

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
_step = None
_products: list = []
_attributes: list = []


def _load(model: str, train: str, test: str, repeat: int) -> None:
    """Each process loads the model and the data itself: only index ranges travel."""
    global _step, _products, _attributes
    _step = registry.create("imputation", "baseline").from_disk(Path(model))
    known = known_attributes(load_records(train))
    records = load_records(test) * repeat
    _products = [record_to_product(r) for r in records]
    _attributes = [known.get(r.category, []) for r in records]


def _predict(span: tuple[int, int]) -> tuple[int, float]:
    """Titles done and the CPU seconds this process spent on them."""
    start, end = span
    started = time.process_time()
    _step.predict(_products[start:end], _attributes[start:end])
    return end - start, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=DATA / "oa-mine" / "train.jsonl")
    parser.add_argument("--test", type=Path, default=DATA / "oa-mine" / "test.jsonl")
    parser.add_argument("--model", type=Path, help="a saved baseline (skips training)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        train_s = None
        if model is None:
            step = registry.create("imputation", "baseline")
            started = time.perf_counter()
            step.initialize([record_to_product(r) for r in load_records(args.train)])
            train_s = time.perf_counter() - started
            model = Path(tmp) / "crf"
            step.to_disk(model)
        setup = (str(model), str(args.train), str(args.test), args.repeat)
        total = len(load_records(args.test)) * args.repeat
        spans = [(i, min(i + args.batch, total)) for i in range(0, total, args.batch)]
        warm = [(0, 50)] * args.workers  # fill the feature caches, as a running service would have
        if args.workers == 1:
            _load(*setup)
            list(map(_predict, warm))
            started = time.perf_counter()
            results = list(map(_predict, spans))
        else:
            with ProcessPoolExecutor(args.workers, initializer=_load, initargs=setup) as pool:
                list(pool.map(_predict, warm))
                started = time.perf_counter()
                results = list(pool.map(_predict, spans))
        elapsed = time.perf_counter() - started
    done, cpu = sum(n for n, _ in results), sum(c for _, c in results)
    print(json.dumps({"titles": done, "workers": args.workers, "batch": args.batch, "seconds": round(elapsed, 3),
                      "titles_per_s": round(done / elapsed, 1), "titles_per_cpu_s": round(done / cpu, 1),
                      "load_average": os.getloadavg()[0], "train_s": train_s and round(train_s, 2),
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
