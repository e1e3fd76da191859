"""Benchmark: titles per second of the extraction baseline's prediction (training excluded).

    python -m eval.bench.extraction [--train T.jsonl] [--test T.jsonl] [--repeat 10] [--workers 2]

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

from eval.datasets import known_attributes, load_records, record_to_product
from shelfgraph import registry

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
_step = None


def _load(model: str) -> None:
    global _step
    _step = registry.create("imputation", "baseline").from_disk(Path(model))


def _predict(batch) -> tuple[int, float]:
    """Titles done and the CPU seconds this process spent on them."""
    products, attributes = batch
    started = time.process_time()
    _step.predict(products, attributes)
    return len(products), time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=DATA / "oa-mine" / "train.jsonl")
    parser.add_argument("--test", type=Path, default=DATA / "oa-mine" / "test.jsonl")
    parser.add_argument("--model", type=Path, help="a saved baseline (skips training)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()

    train = load_records(args.train)
    test = load_records(args.test)
    known = known_attributes(train)
    products = [record_to_product(r) for r in test] * args.repeat
    attributes = [known.get(r.category, []) for r in test] * args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            step = registry.create("imputation", "baseline")
            started = time.perf_counter()
            step.initialize([record_to_product(r) for r in train])
            train_s = time.perf_counter() - started
            model = Path(tmp) / "crf"
            step.to_disk(model)
        else:
            train_s = None
        batches = [(products[i:i + args.batch], attributes[i:i + args.batch])
                   for i in range(0, len(products), args.batch)]
        if args.workers == 1:
            _load(str(model))
            _step.predict(products[:50], attributes[:50])  # warm the caches as a server would be
            started = time.perf_counter()
            results = list(map(_predict, batches))
        else:
            with ProcessPoolExecutor(args.workers, initializer=_load, initargs=(str(model),)) as pool:
                list(pool.map(_predict, [(products[:50], attributes[:50])] * args.workers))
                started = time.perf_counter()
                results = list(pool.map(_predict, batches))
        elapsed = time.perf_counter() - started
    done, cpu = sum(n for n, _ in results), sum(c for _, c in results)
    print(json.dumps({"titles": done, "workers": args.workers, "batch": args.batch, "seconds": round(elapsed, 3),
                      "titles_per_s": round(done / elapsed, 1), "titles_per_cpu_s": round(done / cpu, 1),
                      "load_average": os.getloadavg()[0], "train_s": train_s and round(train_s, 2),
                      "cpus": os.cpu_count(), "with_description": any(p.description for p in products)}))


if __name__ == "__main__":
    main()
