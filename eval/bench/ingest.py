"""Ingest benchmark: products per second, peak memory and ledger size for a catalogue of any size.

    python -m shelfgraph.eval.bench.synthetic --products 1000000 --seed 0 --out /tmp/catalog-1m.jsonl
    python -m shelfgraph.eval.bench.ingest /tmp/catalog-1m.jsonl [--store /tmp/shelfgraph-bench-ingest.db]

Ingests the files (or folders, or globs) into a fresh store as `shelfgraph ingest` does, and
reports products and facts stored, seconds (wall and CPU), peak RSS of the process, the size of
the store, and the p50 of two queries afterwards. Peak memory that does not grow with the
catalogue is the point: compare a 100k and a 1M catalogue.
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

from shelfgraph.ingest import ingest_paths
from shelfgraph.models import attribute_predicate, product_subject
from shelfgraph.store import Ledger


def run(paths: list[Path], store: Path) -> dict:
    for suffix in ("", "-wal", "-shm"):
        Path(str(store) + suffix).unlink(missing_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    with Ledger(store, exclusive=True) as ledger:
        with ledger.recorded_run("ingest", {"files": [str(p) for p in paths]}) as run:
            reports = ingest_paths(ledger, paths, run.id)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        ids = [r[0] for r in ledger.db.execute("SELECT id FROM products ORDER BY random() LIMIT 200")]
        by_product, by_value = [], []
        rng = random.Random(0)
        brands = [r[0] for r in ledger.db.execute(
            "SELECT DISTINCT t.text FROM fact_rows f JOIN terms t ON t.id = f.object "
            "WHERE f.predicate = (SELECT id FROM terms WHERE text = ?) LIMIT 1000", (attribute_predicate("Brand"),))]
        for product_id in ids:
            t = time.perf_counter()
            ledger.facts(subject=product_subject(product_id))
            by_product.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            ledger.products_with_value("Brand", rng.choice(brands))
            by_value.append((time.perf_counter() - t) * 1000)
        facts = ledger.db.execute("SELECT COUNT(*) FROM fact_rows").fetchone()[0]
    products = sum(r.products for r in reports)
    return {
        "files": len(reports), "products": products, "rejected": sum(len(r.rejected) for r in reports),
        "facts": facts, "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
        "products_per_s": round(products / seconds), "products_per_cpu_s": round(products / cpu_seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "db_mb": round(store.stat().st_size / 2**20),
        "facts_of_product_p50_ms": round(statistics.median(by_product), 3),
        "products_with_value_p50_ms": round(statistics.median(by_value), 3),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, nargs="+")
    parser.add_argument("--store", type=Path, default=Path("/tmp/shelfgraph-bench-ingest.db"))
    args = parser.parse_args()
    print(json.dumps(run(args.paths, args.store)))


if __name__ == "__main__":
    main()
