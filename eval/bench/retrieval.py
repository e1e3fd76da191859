"""Retrieval benchmark: MiniLM embedding throughput and Chroma query latency at 10k and 100k items.

Embedding throughput is measured on real OA-Mine titles (repeated to the requested count).
The large stores are filled cheaply: the unique training titles are embedded once and each
stored item is one of those vectors plus Gaussian noise (per-dimension sigma `--noise`),
re-normalised, so neighbourhoods look like real product clusters without embedding 100k
texts on a laptop CPU. Queries are real test titles (not in the store), embedded per query.

    python -m shelfgraph.eval.bench.retrieval [--sizes 10000 100000] [--queries 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "oa-mine"
BENCH_SET = "bench"  # the one training set of the benchmark's store


def load_records(name: str) -> list[dict[str, Any]]:
    path = DATA / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: the benchmark needs ../shared/data (see its README)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def timed(calls: list[Callable[[], Any]]) -> list[float]:
    durations = []
    for call in calls:
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    return durations


def bench_embedding(titles: list[str], n_texts: int, batch_size: int) -> tuple[dict[str, Any], np.ndarray]:
    """Throughput on `n_texts` titles (cycled); also returns the vectors of the unique titles."""
    from shelfgraph.retrieval.embeddings import embed, get_encoder

    start = time.perf_counter()
    get_encoder()
    load_s = time.perf_counter() - start
    texts = [titles[i % len(titles)] for i in range(n_texts)]
    embed(texts[:batch_size], batch_size=batch_size)  # warm-up
    start = time.perf_counter()
    vectors = embed(texts, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    single = timed([lambda t=t: embed([t]) for t in titles[:100]])
    if n_texts < len(titles):
        vectors = np.vstack([vectors, embed(titles[n_texts:], batch_size=batch_size)])
    result = {
        "model_load_s": round(load_s, 2),
        "texts": n_texts,
        "batch_size": batch_size,
        "texts_per_s": round(n_texts / elapsed, 1),
        "single_text": percentiles(single),
    }
    return result, vectors[: len(titles)]


def synthetic_vectors(base: np.ndarray, size: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`size` noisy copies of the base vectors (cycled), unit length; also which base each copies."""
    rng = np.random.default_rng(seed)
    source = np.arange(size) % len(base)
    vectors = base[source] + rng.normal(0.0, noise, (size, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, source


def bench_store(size: int, base: np.ndarray, train: list[dict], queries: list[dict], noise: float) -> dict[str, Any]:
    from shelfgraph.retrieval.embeddings import embed
    from shelfgraph.retrieval.index import SCOPE_KEY, CatalogIndex
    from shelfgraph.models import Product, normalise_label

    vectors, source = synthetic_vectors(base, size, noise)
    with tempfile.TemporaryDirectory(prefix="bench-chroma-") as folder:
        index = CatalogIndex.open(Path(folder))
        examples = index.collection("examples")
        batch = min(5000, index.client.get_max_batch_size())
        start = time.perf_counter()
        for lo in range(0, size, batch):
            rows = range(lo, min(size, lo + batch))
            records = [train[source[i]] for i in rows]
            examples.add(
                ids=[f"item{i}" for i in rows],
                embeddings=vectors[lo : lo + len(rows)],
                documents=[r["input"] for r in records],
                metadatas=[
                    {
                        SCOPE_KEY: BENCH_SET,
                        "product_id": f"item{i}",
                        "product_type": r["category"],
                        "type_key": normalise_label(r["category"]),
                        "title": r["input"],
                        "description": "",
                        "attributes": json.dumps({a: list(v) for a, v in r["target_scores"].items()}),
                    }
                    for i, r in zip(rows, records)
                ],
            )
        add_s = time.perf_counter() - start

        query_vecs = embed([q["input"] for q in queries])
        raw = timed([lambda v=v: examples.query(query_embeddings=[v], n_results=10) for v in query_vecs])
        filtered = timed(
            [
                lambda v=v, q=q: examples.query(
                    query_embeddings=[v], n_results=20, where={"type_key": normalise_label(q["category"])}
                )
                for v, q in zip(query_vecs, queries)
            ]
        )
        products = [
            Product(id=f"query{i}", title=q["input"], product_type=q["category"]) for i, q in enumerate(queries)
        ]
        end_to_end = timed([lambda p=p: index.similar_examples(p, k=5, scope=BENCH_SET) for p in products])
        same_type = np.mean(
            [
                all(e.product_type == p.product_type for e in index.similar_examples(p, k=5, scope=BENCH_SET))
                for p in products[:50]
            ]
        )
    return {
        "items": size,
        "add_items_per_s": round(size / add_s, 1),
        "query_k10": percentiles(raw),
        "query_k20_type_filter": percentiles(filtered),
        "similar_examples_k5": percentiles(end_to_end),
        "similar_examples_same_type_share": round(float(same_type), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000], help="store sizes; none: embedding only")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embed-texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for embedding "
                        "(sets $SHELFGRAPH_EMBED_THREADS); default: that variable, else 1")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    import torch

    from shelfgraph.retrieval.embeddings import THREADS_ENV

    if args.threads is not None:
        os.environ[THREADS_ENV] = str(args.threads)
    train, test = load_records("train.jsonl"), load_records("test.jsonl")
    titles = [r["input"] for r in train]
    results: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    results["embedding"], base = bench_embedding(titles, args.embed_texts, args.batch_size)
    results["torch_threads"] = torch.get_num_threads()
    print(f"embedding: {results['embedding']}", file=sys.stderr, flush=True)
    results["noise_sigma"] = args.noise
    results["stores"] = []
    for size in args.sizes:
        results["stores"].append(bench_store(size, base, train, test[: args.queries], args.noise))
        print(f"store: {results['stores'][-1]}", file=sys.stderr, flush=True)
    results["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
