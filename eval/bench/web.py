"""`shelfgraph serve` at scale: latency of the pages and of answers over a big store.

    python -m shelfgraph.eval.bench.web [--facts 1000000] [--store /tmp/shelfgraph-web-bench.db] [--requests 200]

The store is made once (kept at --store; --rebuild makes it again): --facts / 10 products of
20 types, each with a title and a description built from its ten attribute values, and the ten
values as facts whose spans point into that text, as an imputation run would store them.
Then a real `shelfgraph serve` process (read-only, no model) is asked over HTTP, one request at
a time: product pages of random products, answers (`/api/ask` and the `/ask` page) to questions
naming a type and a value (selective: a brand or flavour, 1-4 products; broad: a form or
caffeine content, hundreds of products), and the other pages a few times. Reported: p50 / p95
per kind (with the server's mean CPU milliseconds per request for product pages and answers),
the time from starting the server to its first answer (it reads the question vocabulary from
every fact as it starts), and the server's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from shelfgraph.models import Fact, Product, Provenance, attribute_predicate, product_subject
from shelfgraph.store import Ledger

from .store import percentile

TYPES = ["Coffee", "Tea", "Granola", "Shampoo", "Conditioner", "Sunscreen", "Toothbrush", "Vitamin", "Detergent",
         "Shoes", "Face Mask", "Soap", "Candle", "Socks", "Notebook", "Pasta", "Olive Oil", "Honey", "Jam", "Soup"]
SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "vo", "su", "bel", "dor", "fin", "gra", "hul", "jo", "kel", "mar",
             "nor", "pel", "quin", "sor", "tav"]
VALUES = 5000  # distinct values per attribute


def _word(n: int) -> str:
    """A pronounceable name for number n (three syllables: 8,000 of them)."""
    a, rest = divmod(n, len(SYLLABLES) ** 2)
    b, c = divmod(rest, len(SYLLABLES))
    return (SYLLABLES[a % len(SYLLABLES)] + SYLLABLES[b] + SYLLABLES[c]).capitalize()


# attribute -> how its i-th value reads
ATTRIBUTES = {
    "Brand": lambda i: f"{_word(i)} {_word(i * 7 + 3)}",
    "Flavor": lambda i: f"{_word(i + 900).lower()} flavor",
    "Net content": lambda i: f"{i % 97 + 1}.{i % 10} oz",
    "Pack size": lambda i: f"{i % 24 + 1} pack",
    "Roast type": lambda i: ["light", "medium", "dark", "french", "italian"][i % 5] + f" {_word(i + 1700).lower()}",
    "Caffeine content": lambda i: ["decaf", "regular", "half caf", "extra caffeine"][i % 4],
    "Form": lambda i: ["whole bean", "ground", "pods", "liquid", "powder", "bar", "tablet"][i % 7],
    "Gender": lambda i: ["women", "men", "unisex", "kids"][i % 4],
    "Color": lambda i: f"{_word(i + 2600).lower()} blue",
    "Material": lambda i: f"{_word(i + 3500).lower()} cotton",
}


def product_of(n: int) -> tuple[Product, dict[str, str]]:
    """Product n and its ten values (the same every time: questions name values the store has)."""
    rng = random.Random(n)
    values = {name: make(rng.randrange(VALUES)) for name, make in ATTRIBUTES.items()}
    kind = TYPES[n % len(TYPES)]
    title = f"{values['Brand']} {values['Flavor']} {kind}, {values['Net content']}, {values['Pack size']}"
    description = (f"A {values['Roast type']} blend, {values['Caffeine content']}, sold as {values['Form']}. "
                   f"For {values['Gender']}; the box is {values['Color']}, the bag {values['Material']}.")
    return Product(id=f"p{n:07d}", title=title, description=description, product_type=kind), values


def facts_of(product: Product, values: dict[str, str], run_id: str, rng: random.Random) -> Iterator[Fact]:
    for attribute, value in values.items():
        field = "title" if product.title.find(value) >= 0 else "description"
        start = product.field_text(field).index(value)
        yield Fact(subject=product_subject(product.id), predicate=attribute_predicate(attribute), object=value,
                   confidence=round(rng.random(), 3),
                   provenance=Provenance(step="imputation", method="baseline", model="crf", run_id=run_id,
                                         source_field=field, start=start, end=start + len(value)))


def make_store(path: Path, facts: int, batch: int = 10_000) -> float:
    """Write the benchmark store; returns the seconds it took."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    rng = random.Random(0)
    with Ledger(path) as ledger, ledger.recorded_run("bench", {"facts": facts}) as run:
        products, pending = [], []
        for n in range(facts // len(ATTRIBUTES)):
            product, values = product_of(n)
            products.append(product)
            pending.extend(facts_of(product, values, run.id, rng))
            if len(pending) >= batch:
                ledger.upsert_products(products, run.id)
                ledger.add_facts(pending)
                products, pending = [], []
        ledger.upsert_products(products, run.id)
        ledger.add_facts(pending)
        ledger.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


SELECTIVE = ("Brand", "Flavor")  # a value few products share: answers name 1-4 products
BROAD = ("Form", "Caffeine content")  # a value of 1 in 4-7 products: answers name hundreds


def questions(count: int, products: int, rng: random.Random, attributes: tuple[str, ...]) -> list[str]:
    """Questions naming a type and a value of `attributes` that some product of the store has."""
    asked = []
    for _ in range(count):
        product, values = product_of(rng.randrange(products))
        attribute = rng.choice(attributes)
        asked.append(f"Which {product.product_type.lower()} products have {attribute.lower()} {values[attribute]}?")
    return asked


def _timed(client, urls: list[str], server: int) -> dict[str, float]:
    """p50 / p95 / max of getting each url, and the server's mean CPU per request: on a shared
    machine wall times follow the load, CPU time follows the code."""
    cpu = _cpu_seconds(server)
    samples = [_get(client, url) for url in urls]
    return {**_summary(samples), "server_cpu_ms": round((_cpu_seconds(server) - cpu) * 1000 / len(urls), 1)}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process `pid` has used (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return elapsed


def _summary(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(percentile(samples, 0.95), 1), "max_ms": round(max(samples), 1)}


def measure(store: Path, requests: int, port: int) -> dict:
    import httpx

    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "shelfgraph", "serve", "--store", str(store), "--port", str(port),
                               "--no-llm"], stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=900) as client:
            for _ in range(600):
                try:
                    client.get("/static/style.css")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            with Ledger(store, read_only=True) as ledger:
                products = ledger.db.execute("SELECT COUNT(*) FROM products").fetchone()[0]
            rng = random.Random(7)
            selective = questions(requests, products, rng, SELECTIVE)
            broad = questions(max(1, requests // 10), products, rng, BROAD)
            # The server prepares the question vocabulary as it starts; the first answer waits for it.
            results: dict = {"products": products, "first_answer_after_start_s": round(
                _get(client, "/api/ask?q=" + quote(selective[0])) / 1000 + time.perf_counter() - started, 1)}
            results["overview_first_ms"] = round(_get(client, "/"), 1)
            results["overview_cached"] = _summary([_get(client, "/") for _ in range(20)])
            results["product_page"] = _timed(client, [f"/products/p{rng.randrange(products):07d}"
                                                      for _ in range(requests)], server.pid)
            for name, asked in (("selective", selective), ("broad", broad)):
                results[f"api_ask_{name}"] = _timed(client, ["/api/ask?q=" + quote(q) for q in asked], server.pid)
                results[f"ask_page_{name}"] = _timed(client, ["/ask?q=" + quote(q) for q in asked], server.pid)
            results["search_page"] = _summary([_get(client, "/products?q=" + quote(w))
                                               for w in ("coffee", "Kalora", "zzz-none", "pods")])
            results["attribute_page"] = _summary([_get(client, "/attributes/" + quote(a)) for a in ATTRIBUTES])
            results["value_page"] = _summary([_get(client, f"/attributes/Form?value={quote(v)}")
                                              for v in ("ground", "pods", "bar")])
            results["review_first_ms"] = round(_get(client, "/review"), 1)
            results["review_page"] = _summary([_get(client, f"/review?page={p}") for p in (1, 2, 100, 1000)])
            results["taxonomy_page"] = _summary([_get(client, "/taxonomy")])
            results["server_peak_rss_mb"] = _peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def _peak_rss_mb(pid: int) -> int | None:
    """The server's peak resident memory (VmHWM), where /proc tells it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, default=Path("/tmp/shelfgraph-web-bench.db"))
    parser.add_argument("--rebuild", action="store_true", help="make the store again even if it exists")
    parser.add_argument("--requests", type=int, default=200,
                        help="product pages and selective questions measured (a tenth as many broad ones)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    made = None
    if args.rebuild or not args.store.exists():
        made = round(make_store(args.store, args.facts), 1)
    results = {"facts": args.facts, "store_mb": round(args.store.stat().st_size / 2**20), "made_store_s": made,
               "load_average": os.getloadavg()[0], **measure(args.store, args.requests, args.port)}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
