"""Fact-ledger benchmark: insert rate and query latency at a million facts, peak memory.

    python -m shelfgraph.eval.bench.store [--facts 1000000] [--batch 10000] [--bulk] [--columns] [--store /tmp/bench.db]

Facts are synthetic but shaped like a real build's: 100k products with ten attribute facts
each, values drawn from a few thousand, provenance with spans. Inserts go through
`Ledger.add_facts` (ids hashed, one transaction per batch), timed inside `add_facts` and the
final WAL checkpoint (the rate including making the pydantic facts is reported beside it);
queries are the ones agents and `ask` use: the facts of a product, and the products with an
attribute value. Last, the time to open the ledger for writing (with its integrity check) and
read-only. `--bulk` writes the batches inside `Ledger.bulk_load()` (a first load into an empty
ledger: indexes built at the end, which is timed with the inserts). `--columns` hands each batch
over as a Ray worker does (`shelfgraph/shards.py`): the facts as columns with their keys hashed,
written as a Parquet shard (to fsspec's `memory://`: the worker's side, timed apart as
`worker_seconds`); the timed driver side reads the shard and calls `Ledger.merge_fact_columns`.
CPU seconds are reported beside wall-clock ones: on a shared machine the rate per CPU second is
what the code gives.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import time
from contextlib import ExitStack
from pathlib import Path

from shelfgraph.models import Fact, Provenance, attribute_predicate
from shelfgraph.shards import fact_table, read_shard, remove_shard, write_shard
from shelfgraph.store import Ledger

ATTRIBUTES = ["Brand", "Flavor", "Net content", "Pack size", "Roast type", "Caffeine content",
              "Form", "Gender", "Color", "Material"]


def synthetic_facts(count: int, seed: int = 0):
    rng = random.Random(seed)
    for i in range(count):
        product, attribute = divmod(i, len(ATTRIBUTES))
        value = f"{ATTRIBUTES[attribute].lower()} value {rng.randrange(5000)}"
        start = rng.randrange(60)
        yield Fact(subject=f"p{product:07d}", predicate=attribute_predicate(ATTRIBUTES[attribute]),
                   object=value, confidence=rng.random(),
                   provenance=Provenance(step="imputation", method="baseline", run_id="bench",
                                         source_field="title", start=start, end=start + len(value),
                                         model="crf", prompt=None))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(call, *args) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def _timed_cpu(call, *args) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    call(*args)
    return time.perf_counter() - started, time.process_time() - cpu


def _insert(ledger: Ledger, facts: int, batch: int, columns: bool = False) -> tuple[float, float, float]:
    """Wall and CPU seconds of the driver's writes (`add_facts` calls, or reading a shard and
    `merge_fact_columns`; and ending a bulk load), and the seconds of the workers' side
    (hashing keys into columns and writing shards): making the synthetic facts is not the
    store's work."""
    wall = cpu = worker = 0.0
    buffer: list[Fact] = []

    def write(buffer: list[Fact]) -> tuple[float, float, float]:
        if not columns:
            return (*_timed_cpu(ledger.add_facts, buffer), 0.0)
        started = time.perf_counter()
        shard = write_shard(fact_table(buffer), "memory://bench/shard.parquet")
        made = time.perf_counter() - started
        w, c = _timed_cpu(lambda: ledger.merge_fact_columns(read_shard(shard)))
        remove_shard(shard)
        return w, c, made

    for fact in synthetic_facts(facts):
        buffer.append(fact)
        if len(buffer) == batch:
            w, c, m = write(buffer)
            wall, cpu, worker, buffer = wall + w, cpu + c, worker + m, []
    w, c, m = write(buffer)
    return wall + w, cpu + c, worker + m


def run(facts: int, batch: int, store: Path, bulk: bool = False, columns: bool = False) -> dict:
    for suffix in ("", "-wal", "-shm"):
        Path(str(store) + suffix).unlink(missing_ok=True)
    with Ledger(store) as ledger:
        started = time.perf_counter()
        with ExitStack() as load:
            w, c = _timed_cpu(load.enter_context, ledger.bulk_load()) if bulk else (0.0, 0.0)
            insert_seconds, insert_cpu, worker_seconds = _insert(ledger, facts, batch, columns)
            w2, c2 = _timed_cpu(load.close)  # a bulk load builds the indexes here
            insert_seconds, insert_cpu = insert_seconds + w + w2, insert_cpu + c + c2
        # Pages the WAL still holds are written back at the next checkpoint: that is insert work too.
        w, c = _timed_cpu(ledger.db.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
        insert_seconds, insert_cpu = insert_seconds + w, insert_cpu + c
        total_seconds = time.perf_counter() - started
        rng = random.Random(1)
        products = facts // len(ATTRIBUTES)
        by_subject, by_value = [], []
        for _ in range(500):
            subject = f"p{rng.randrange(products):07d}"
            t = time.perf_counter()
            ledger.facts(subject=subject)
            by_subject.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            ledger.products_with_value("Brand", f"brand value {rng.randrange(5000)}")
            by_value.append((time.perf_counter() - t) * 1000)
    # Opening for writing runs `PRAGMA quick_check`, which reads the whole file; read-only does not.
    open_for_writing = _timed(lambda: Ledger(store).close())
    open_read_only = _timed(lambda: Ledger(store, read_only=True).close())
    return {
        "facts": facts, "batch": batch, "bulk": bulk, "columns": columns,
        "insert_facts_per_s": round(facts / insert_seconds),
        "insert_facts_per_cpu_s": round(facts / insert_cpu),
        "with_fact_making_per_s": round(facts / total_seconds),
        "worker_seconds": round(worker_seconds, 1),
        "facts_of_product_p50_ms": round(statistics.median(by_subject), 3),
        "facts_of_product_p95_ms": round(percentile(by_subject, 0.95), 3),
        "products_with_value_p50_ms": round(statistics.median(by_value), 3),
        "products_with_value_p95_ms": round(percentile(by_value, 0.95), 3),
        "open_for_writing_ms": round(open_for_writing * 1000), "open_read_only_ms": round(open_read_only * 1000, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "db_mb": round(store.stat().st_size / 2**20), "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--store", type=Path, default=Path("/tmp/shelfgraph-bench.db"))
    parser.add_argument("--bulk", action="store_true", help="Write inside Ledger.bulk_load() (an empty ledger).")
    parser.add_argument("--columns", action="store_true",
                        help="Hand batches over as Parquet shards of columns and merge them (the Ray path).")
    args = parser.parse_args()
    print(json.dumps(run(args.facts, args.batch, args.store, args.bulk, args.columns)))


if __name__ == "__main__":
    main()
