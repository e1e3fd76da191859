"""Facts merged as columns (a Ray worker's Parquet shard) land as `add_facts` would store them."""

from __future__ import annotations

from shelfgraph.models import Fact, Provenance, attribute_predicate
from shelfgraph.shards import fact_table, read_shard, write_shard
from shelfgraph.store import Ledger


def _facts(products: range, run_id: str = "r1") -> list[Fact]:
    return [Fact(subject=f"p{i}", predicate=attribute_predicate(attribute), object=f"{attribute} {i % 7}",
                 confidence=0.5 if i % 3 else None,
                 provenance=Provenance(step="imputation", method="baseline", run_id=run_id,
                                       source_field="title" if i % 2 else None, start=i % 5 or None, end=9,
                                       model="crf" if i % 4 else None))
            for i in products for attribute in ("Brand", "Flavor")]


def _stored(ledger: Ledger) -> list[tuple]:
    return sorted((f.id, f.subject, f.predicate, f.object, f.confidence, f.status, f.provenance.model_dump_json())
                  for f in ledger.facts(status=None))


def test_a_shard_merged_stores_the_facts_add_facts_stores_with_the_same_ids(tmp_path):
    facts = _facts(range(200))
    shard = write_shard(fact_table(facts), f"file://{tmp_path}/run/shard-0.parquet")
    with Ledger(tmp_path / "plain.db") as plain, Ledger(tmp_path / "columns.db") as columns:
        assert plain.add_facts(facts) == 400
        assert columns.merge_fact_columns(read_shard(shard)) == 400
        assert _stored(columns) == _stored(plain)
        assert {f.id for f in columns.facts(status=None)} == {f.id for f in facts}


def test_merging_the_same_facts_twice_stores_them_once_and_a_repeat_keeps_its_first_copy(tmp_path):
    facts = _facts(range(50))
    again = _facts(range(50), run_id="r2")  # the run is not part of a fact's id
    with Ledger(tmp_path / "g.db") as ledger:
        assert ledger.merge_fact_columns(fact_table(facts + again[:10])) == 100
        before = _stored(ledger)
        assert ledger.merge_fact_columns(fact_table(again)) == 0
        assert _stored(ledger) == before
        assert {f.provenance.run_id for f in ledger.facts(status=None)} == {"r1"}


def test_a_retracted_fact_merged_again_is_active_again(tmp_path):
    facts = _facts(range(5))
    with Ledger(tmp_path / "g.db") as ledger:
        ledger.merge_fact_columns(fact_table(facts))
        assert ledger.set_status([facts[0].id], "retracted", "r1") == 1
        assert ledger.merge_fact_columns(fact_table(_facts(range(5), run_id="r3"))) == 0
        assert all(f.status == "active" for f in ledger.facts(status=None))
        events = ledger.db.execute("SELECT status, run_id, reason FROM fact_events WHERE fact_id = ?",
                                   (facts[0].id,)).fetchall()
        assert events[-1] == ("active", "r3", "asserted again")
