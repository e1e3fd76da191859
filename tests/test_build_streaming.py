"""The build reads a catalogue larger than its chunk a chunk at a time, and stores the same
facts as when the whole batch is one chunk."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from shelfgraph.buildrun import run_build
from shelfgraph.context import LLMConfig
from shelfgraph.eval.bench.synthetic import synthetic_products
from shelfgraph.models import Product
from shelfgraph.pipeline import BuildConfig
from shelfgraph.store import Ledger

CHUNK = 8


def _catalogue(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in synthetic_products(count, seed=3)))
    return path


def _labelled(tmp_path: Path, demo: Path) -> Path:
    """A quarter of the labelled examples: enough to learn from, quick to train."""
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join((demo / "labelled.jsonl").read_text().splitlines()[::4]) + "\n")
    return path


def _build(store: Path, catalog: Path, labelled: Path, demo: Path, **config) -> dict:
    summary, _ = run_build(store, [catalog], demo / "taxonomy", [], [labelled],
                           BuildConfig(**{"batch_size": 4, **config}), LLMConfig(), quiet=True)
    return summary


def _live_catalogue_products() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, Product) and o.id.startswith("syn-"))


def test_the_build_holds_a_chunk_of_products_not_the_catalogue(tmp_path, demo_data, monkeypatch):
    catalog, labelled = _catalogue(tmp_path / "catalog.jsonl", 6 * CHUNK), _labelled(tmp_path, demo_data)
    reads, live = [], []
    products_by_id = Ledger.products_by_id

    def counted(self, ids):  # the build's reader of products: how many it asks for, how many are alive
        found = products_by_id(self, ids)
        reads.append(len(found))
        live.append(_live_catalogue_products())
        return found

    monkeypatch.setattr(Ledger, "products_by_id", counted)
    summary = _build(tmp_path / "chunked.db", catalog, labelled, demo_data, chunk_size=CHUNK,
                     relation_products=2)  # a relation unit holds 2 stored products, a batch 4 units
    done = {s["step"]: s["done"] for s in summary["steps"]}
    assert done["type"] == 6 * CHUNK and done["cleaning"] > CHUNK  # the steps ran on every chunk
    assert len(reads) >= 3 * 6 and max(reads) <= CHUNK
    # at most the chunk just read, the one whose last units are being finished, and a step batch
    # (4 units) straddling them: not the 48 products of the catalogue
    assert 0 < max(live) <= 2 * CHUNK + 4, live


def test_a_chunked_build_stores_the_facts_of_a_one_chunk_build(tmp_path, demo_data):
    """Chunks of 8 products in batches of 4 units, against one chunk in the steps' own batch
    sizes (the baselines take 500 products at a time): the same facts, flagged the same."""
    catalog, labelled = _catalogue(tmp_path / "catalog.jsonl", 5 * CHUNK), _labelled(tmp_path, demo_data)
    _build(tmp_path / "chunked.db", catalog, labelled, demo_data, chunk_size=CHUNK)
    _build(tmp_path / "whole.db", catalog, labelled, demo_data, chunk_size=10_000, batch_size=None)
    graphs = []
    for store in ("chunked.db", "whole.db"):
        with Ledger(tmp_path / store) as ledger:
            graphs.append({(f.id, f.status) for f in ledger.facts(status=None)})
    assert graphs[0] == graphs[1] and len(graphs[0]) > 5 * CHUNK * 2


def test_products_are_read_a_page_at_a_time_in_the_order_stored(tmp_path):
    with Ledger(tmp_path / "graph.db") as ledger:
        ledger.upsert_products([Product(id=f"p{i}", title=f"Product {i}", product_type="Tea" if i % 2 else "Coffee")
                                for i in range(7)], "run")
        everything = [p.id for p in ledger.products(page=1_000)]
        assert everything == [f"p{i}" for i in range(7)]
        assert [p.id for p in ledger.products(page=2)] == everything
        assert [p.id for p in ledger.products(page=2, limit=5)] == everything[:5]
        assert [p.id for p in ledger.products(product_type="tea", page=2)] == ["p1", "p3", "p5"]


def test_a_pass_over_the_batch_reads_the_graph_s_types_once_and_parses_no_product(tmp_path, monkeypatch):
    """The spelling of the graph's types is a grouped read of every type fact: read once per
    pass, not once per chunk (that was quadratic in the catalogue). The passes that need only
    products' types read the catalogue type column, in the order stored, not the products."""
    from shelfgraph.models import PRODUCT_TYPE, Fact, Provenance, product_subject
    from shelfgraph.stages import STAGES
    from shelfgraph.stages.inputs import BuildInputs

    with Ledger(tmp_path / "graph.db") as ledger:
        ledger.upsert_products([Product(id=f"p{i}", title=f"Product {i}", product_type="Tea" if i % 2 else "Coffee")
                                for i in range(9)] + [Product(id="p9", title="Loose leaves")], "run")
        ledger.add_facts([Fact(subject=product_subject(i), predicate=PRODUCT_TYPE, object=name,
                               provenance=Provenance(step="taxonomy", method="baseline", run_id="run"))
                          for i, name in (("p1", "green tea"), ("p9", "green teas"))])
        ids = [f"p{i}" for i in range(10)]
        inputs = BuildInputs(ledger, ids, [], 0, chunk_size=2, relation_products=3)
        reads, parsed = [], []
        type_phrases, products_by_id = Ledger.type_phrases, Ledger.products_by_id
        monkeypatch.setattr(Ledger, "type_phrases", lambda self, step: reads.append(step) or type_phrases(self, step))
        monkeypatch.setattr(Ledger, "products_by_id",
                            lambda self, wanted: parsed.append(list(wanted)) or products_by_id(self, wanted))
        assert inputs.batch_types() == {"coffee", "tea", "green tea"}
        assert (len(reads), parsed) == (1, [])
        units = dict(STAGES["relations"].units(inputs))
        assert len(reads) == 2
        assert {name: [p.id for p in unit.query.products] for name, unit in units.items()} == {
            "coffee": ["p0", "p2", "p4"], "tea": ["p1", "p3", "p5"], "green tea": ["p1", "p9"]}
        list(STAGES["imputation"].units(inputs))  # five chunks of two products
        assert len(reads) == 3
        products = ledger.products_by_id(ids)
        assert inputs.types_of([products[i] for i in ids]) == inputs.types_of_ids(ledger.catalogue_types(ids)) == {
            **{f"p{i}": ["tea" if i % 2 else "coffee"] for i in range(9)}, "p1": ["tea", "green tea"],
            "p9": ["green tea"]}
