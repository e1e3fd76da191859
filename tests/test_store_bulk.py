"""Bulk writes to the fact ledger: a first load builds its indexes at the end, and stays as
idempotent as any write (the same facts twice are stored once)."""

from __future__ import annotations

import json

import pytest

from shelfgraph.errors import StoreError
from shelfgraph.ingest import ingest_paths
from shelfgraph.models import Fact, Provenance, attribute_predicate
from shelfgraph.store import Ledger


def _facts(products: range, run_id: str = "r1") -> list[Fact]:
    return [Fact(subject=f"p{i}", predicate=attribute_predicate(attribute), object=f"{attribute} {i % 7}",
                 confidence=0.5, provenance=Provenance(step="imputation", method="baseline", run_id=run_id,
                                                       source_field="title", start=0, end=3))
            for i in products for attribute in ("Brand", "Flavor")]


def _indexes(ledger: Ledger) -> list[str]:
    return sorted(r[0] for r in ledger.db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'fact_rows'"))


def _stored(ledger: Ledger) -> list[tuple]:
    return [(f.id, f.subject, f.predicate, f.object, f.provenance.run_id, f.status)
            for f in ledger.facts(status=None)]


def test_a_bulk_load_stores_what_add_facts_stores_with_the_same_indexes(tmp_path):
    facts = _facts(range(300))
    with Ledger(tmp_path / "plain.db") as plain:
        assert plain.add_facts(facts[:250]) + plain.add_facts(facts[250:]) == 600
        expected, indexes = _stored(plain), _indexes(plain)
    with Ledger(tmp_path / "bulk.db") as ledger:
        with ledger.bulk_load():
            assert ledger.add_facts(facts[:250]) == 250
            assert _indexes(ledger) == []  # kept up to date by nobody while the load runs
            assert ledger.add_facts(facts[250:] + facts[250:260]) == 350  # a repeat within one call is one
        assert _stored(ledger) == expected and _indexes(ledger) == indexes
        assert ledger.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        plan = " ".join(r[3] for r in ledger.db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM fact_rows WHERE subject = 1 AND predicate = 2"))
        assert "USING INDEX fact_rows_by_subject" in plan


def test_writing_the_same_facts_again_after_a_bulk_load_stores_nothing(tmp_path):
    facts = _facts(range(100))
    with Ledger(tmp_path / "g.db") as ledger:
        with ledger.bulk_load():
            ledger.add_facts(facts)
        before = _stored(ledger)
        assert ledger.add_facts(_facts(range(100), run_id="r2")) == 0  # the run is not part of a fact's id
        assert _stored(ledger) == before


def test_a_fact_repeated_by_two_calls_of_one_load_is_stored_once_first_copy_kept(tmp_path):
    with Ledger(tmp_path / "g.db") as ledger:
        with ledger.bulk_load():
            ledger.add_facts(_facts(range(10), run_id="first"))
            ledger.add_facts(_facts(range(5, 15), run_id="second"))
        stored = ledger.facts()
        assert len(stored) == 30 and len({f.id for f in stored}) == 30
        assert {f.provenance.run_id for f in stored if f.subject in ("p5", "p9")} == {"first"}


def test_a_failing_bulk_load_leaves_the_ledger_as_it_was(tmp_path):
    with Ledger(tmp_path / "g.db") as ledger:
        indexes = _indexes(ledger)
        with pytest.raises(RuntimeError), ledger.bulk_load():
            ledger.add_facts(_facts(range(10)))
            raise RuntimeError("the source broke")
        assert ledger.facts(status=None) == [] and _indexes(ledger) == indexes
        ledger.add_facts(_facts(range(3)))
        with pytest.raises(StoreError, match="holds facts already"):
            with ledger.bulk_load():
                pass


def test_ingest_into_a_new_ledger_loads_in_bulk_and_a_second_ingest_adds_nothing(tmp_path):
    catalogue = tmp_path / "c.jsonl"
    catalogue.write_text("".join(json.dumps({"id": f"p{i}", "title": f"Brand{i % 9} tea {i}", "product_type": "Tea",
                                             "attributes": {"Brand": f"Brand{i % 9}"}}) + "\n" for i in range(1200)))
    with Ledger(tmp_path / "g.db") as ledger:
        [first] = ingest_paths(ledger, [catalogue], "r1")
        stored = _stored(ledger)
        [again] = ingest_paths(ledger, [catalogue], "r2")
        assert (first.facts, again.facts, again.changed) == (2400, 0, 0)
        assert _stored(ledger) == stored and len(_indexes(ledger)) == 3
        assert ledger.products_with_value("Brand", "brand3")[:2] == ["p1002", "p1011"]
