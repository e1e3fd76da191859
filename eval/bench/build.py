"""Build benchmark: products per second of each pipeline step, peak memory, ledger size and
query latency after, on the demo catalogue or a synthetic one of any size.

    python -m shelfgraph.eval.bench.build --method baseline [--limit N] [--store /tmp/bench-build.db]
    python -m shelfgraph.eval.bench.synthetic --products 100000 --seed 0 --out /tmp/cat-100k.jsonl
    python -m shelfgraph.eval.bench.build --catalog /tmp/cat-100k.jsonl --training

Runs `shelfgraph build` into a fresh store (training included, as a user's first build has
it) with the demo taxonomy and labelled products, and reports per step units done, seconds
(wall and CPU) and products per second. With `--training`, each step is then trained again
alone on the same inputs and timed, so the build's rate after training can be given: the
training inputs (600 labelled products, the taxonomy) do not grow with the catalogue.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import time
from pathlib import Path

from shelfgraph.buildrun import read_labelled, run_build
from shelfgraph.context import LLMConfig, StepContext, index_beside
from shelfgraph.models import ATTRIBUTE_PREFIX, product_subject
from shelfgraph.pipeline import BuildConfig
from shelfgraph.stages import STAGES
from shelfgraph.stages.inputs import BuildInputs
from shelfgraph.steps import NotEnoughData
from shelfgraph.store import Ledger

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def training_seconds(store: Path, config: BuildConfig, labelled: Path) -> dict[str, float]:
    """CPU seconds each step takes to learn from the build's training inputs, alone, in the
    build's order from an empty embedding memo (the build embedded them for the first time)."""
    from shelfgraph.retrieval.embeddings import forget_embeddings

    forget_embeddings()
    steps = config.build_steps(StepContext(index_dir=index_beside(store)))
    seconds = {}
    with Ledger(store, read_only=True) as ledger:
        inputs = BuildInputs(ledger, [], read_labelled([labelled]), config.synonym_candidates)
        for kind, stage in STAGES.items():
            started = time.process_time()
            try:
                steps[kind].initialize(*stage.training(inputs))
            except NotEnoughData:
                pass
            seconds[kind] = round(time.process_time() - started, 1)
    return seconds


def query_p50(store: Path, samples: int = 200) -> dict[str, float]:
    """p50 of a product's facts and of the products with a value, over random picks."""
    rng, by_product, by_value = random.Random(0), [], []
    with Ledger(store, read_only=True) as ledger:
        ids = [r[0] for r in ledger.db.execute("SELECT id FROM products ORDER BY random() LIMIT ?", (samples,))]
        pairs = list(ledger.db.execute(
            "SELECT DISTINCT p.text, o.text FROM fact_rows f JOIN terms p ON p.id = f.predicate "
            "JOIN terms o ON o.id = f.object WHERE f.predicate IN (SELECT id FROM terms WHERE text GLOB ?) "
            "LIMIT 5000", (ATTRIBUTE_PREFIX + "*",)))
        for product_id in ids:
            started = time.perf_counter()
            ledger.facts(subject=product_subject(product_id))
            by_product.append((time.perf_counter() - started) * 1000)
            predicate, value = rng.choice(pairs)
            started = time.perf_counter()
            ledger.products_with_value(predicate[len(ATTRIBUTE_PREFIX):], value)
            by_value.append((time.perf_counter() - started) * 1000)
    return {"facts_of_product_p50_ms": round(statistics.median(by_product), 3),
            "products_with_value_p50_ms": round(statistics.median(by_value), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="baseline")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--catalog", type=Path, default=DEMO / "catalog.jsonl")
    parser.add_argument("--labelled", type=Path, default=DEMO / "labelled.jsonl")
    parser.add_argument("--store", type=Path, default=Path("/tmp/shelfgraph-bench-build.db"))
    parser.add_argument("--training", action="store_true", help="also time each step's training alone")
    args = parser.parse_args()
    for suffix in ("", "-wal", "-shm", ".rejected.jsonl"):
        Path(str(args.store) + suffix).unlink(missing_ok=True)
    config = BuildConfig(method=args.method, limit=args.limit)
    cpu = time.process_time()
    summary, _ = run_build(store=args.store, catalog=[args.catalog], taxonomy=DEMO / "taxonomy",
                           reviews=[], labelled=[args.labelled], config=config, llm=LLMConfig(), quiet=True)
    build_cpu = time.process_time() - cpu
    peak_rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    products = summary["products"]
    steps = {s["step"]: {"units": s["done"], "seconds": s["seconds"], "cpu_seconds": s["cpu_seconds"],
                         "products_per_s": round(products / s["seconds"], 1) if s["seconds"] else None}
             for s in summary["steps"]}
    result = {"method": args.method, "catalog": str(args.catalog), "products": products, "steps": steps,
              "seconds": summary["seconds"], "cpu_seconds": round(build_cpu, 1),
              "llm_calls": summary["llm"]["calls"], "facts_before": summary["facts_before"],
              "facts_after": summary["facts_after"], "peak_rss_mb": peak_rss,
              "db_mb": round(sum(Path(str(args.store) + s).stat().st_size for s in ("", "-wal")
                                 if Path(str(args.store) + s).exists()) / 2**20),
              **query_p50(args.store), "load_average": os.getloadavg()[0]}
    if args.training:
        training = training_seconds(args.store, config, args.labelled)
        after = build_cpu - sum(training.values())
        for kind, step in steps.items():
            learnt = step["cpu_seconds"] - training.get(kind, 0.0)
            step["products_per_cpu_s_after_training"] = round(products / learnt, 1) if learnt > 0 else None
        result.update(training_cpu_seconds=training, cpu_seconds_after_training=round(after, 1),
                      products_per_cpu_s_after_training=round(products / after, 1) if after > 0 else None)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
