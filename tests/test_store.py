"""The fact ledger on real SQLite: idempotent writes, marking not deleting, taxonomy queries."""

from __future__ import annotations

import sqlite3

import pytest

from shelfgraph.errors import StoreError
from shelfgraph.models import PRODUCT_TYPE, Fact, Product, Provenance, TaxonomyNode, attribute_predicate
from shelfgraph.store import HasValue, Ledger
from store_support import as_before_m003, index_columns


def _fact(obj: str = "Lavazza", run_id: str = "r1", confidence: float = 0.9) -> Fact:
    return Fact(subject="p1", predicate=attribute_predicate("Brand"), object=obj, confidence=confidence,
                provenance=Provenance(step="imputation", method="baseline", run_id=run_id,
                                      source_field="title", start=0, end=len(obj)))


def test_ledger_uses_wal_and_records_migrations(tmp_path):
    with Ledger(tmp_path / "g.db") as ledger:
        assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [r[0] for r in ledger.db.execute("SELECT name FROM _migrations")]
    assert names == ["m001_initial", "m002_dictionary_encoded_facts", "m003_covering_question_indexes"]
    with Ledger(tmp_path / "g.db") as ledger:  # reopening applies nothing twice
        assert ledger.db.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == 3


def test_same_fact_twice_is_stored_once_whatever_the_run(tmp_path):
    with Ledger(tmp_path / "g.db") as ledger:
        assert ledger.add_facts([_fact(run_id="r1")]) == 1
        assert ledger.add_facts([_fact(run_id="r2", confidence=0.5)]) == 0
        facts = ledger.facts(subject="p1")
    assert len(facts) == 1
    assert facts[0].provenance.run_id == "r1"
    assert (facts[0].provenance.start, facts[0].provenance.end) == (0, 7)


def test_batch_insert_is_one_transaction(tmp_path):
    good = _fact()
    with Ledger(tmp_path / "g.db") as ledger:
        def facts():
            yield good
            raise RuntimeError("source broke mid-batch")
        try:
            ledger.add_facts(facts())
        except RuntimeError:
            pass
        assert ledger.facts() == []  # nothing half-written


def test_facts_are_marked_never_deleted(tmp_path):
    fact = _fact()
    with Ledger(tmp_path / "g.db") as ledger:
        ledger.add_facts([fact])
        assert ledger.set_status([fact.id], "rejected", run_id="clean1", reason="value not in text") == 1
        assert ledger.facts(subject="p1") == []
        kept = ledger.facts(subject="p1", status=None)
        assert [f.status for f in kept] == ["rejected"]
        history = ledger.fact_history(fact.id)
    assert history[0]["status"] == "rejected" and history[0]["run_id"] == "clean1"


def test_retracted_fact_asserted_again_becomes_active(tmp_path):
    fact = _fact()
    with Ledger(tmp_path / "g.db") as ledger:
        ledger.add_facts([fact])
        ledger.set_status([fact.id], "retracted", run_id="r2")
        ledger.add_facts([_fact(run_id="r3")])
        assert [f.status for f in ledger.facts(subject="p1", status=None)] == ["active"]
        assert [e["status"] for e in ledger.fact_history(fact.id)] == ["retracted", "active"]


def test_products_by_type_and_by_attribute_value(tmp_path):
    with Ledger(tmp_path / "g.db") as ledger:
        ledger.upsert_products([Product(id="p1", title="Lavazza Espresso", product_type="Coffee"),
                                Product(id="p2", title="Twinings Earl Grey", product_type="Tea")], "r1")
        ledger.add_facts([_fact()])
        assert [p.id for p in ledger.products(product_type="coffee")] == ["p1"]
        assert ledger.product_ids_by_type("Tea") == ["p2"]
        assert ledger.products_with_value("Brand", "lavazza") == ["p1"]


def test_catalogue_types_and_attribute_values_of_every_product(tmp_path):
    """What the build's graph-level stages read of the whole store: each product's catalogue type,
    and every attribute's active values (an `ATTR:` predicate or a retracted value is none)."""
    with Ledger(tmp_path / "g.db") as ledger:
        ledger.upsert_products([Product(id="p1", title="Lavazza Espresso", product_type="Coffee"),
                                Product(id="p2", title="Twinings Earl Grey"),
                                Product(id="p3", title="Illy Classico", product_type="Coffee")], "r1")
        retracted = _fact("Illy")
        upper = _fact("Kenco").model_copy(update={"predicate": "ATTR:Brand"})
        ledger.add_facts([_fact(), retracted, upper, _fact("Lavazza").model_copy(update={"subject": "p3"})])
        typed = Fact(subject="p2", predicate=PRODUCT_TYPE, object="tea",
                     provenance=Provenance(step="taxonomy", method="baseline", run_id="r1"))
        ledger.add_facts([typed, typed.model_copy(update={"object": "ingested", "provenance": Provenance(
            step="ingest", method="gold", run_id="r1")})])
        ledger.set_status([retracted.id], "retracted", run_id="r2")
        assert ledger.catalogue_type_names() == ["Coffee"]
        assert ledger.type_phrases("taxonomy") == {"tea": 1}  # that step's, counted
        assert ledger.attribute_values() == {"Brand": {"Lavazza"}}


def test_upsert_reports_only_new_or_changed_products(tmp_path):
    product = Product(id="p1", title="Lavazza Espresso")
    with Ledger(tmp_path / "g.db") as ledger:
        assert ledger.upsert_products([product], "r1") == ["p1"]
        assert ledger.upsert_products([product], "r2") == []
        assert ledger.upsert_products([product.model_copy(update={"title": "Lavazza Oro"})], "r3") == ["p1"]
        assert ledger.product("p1").title == "Lavazza Oro"


def test_taxonomy_path_and_subtree(tmp_path):
    nodes = [TaxonomyNode(id="fb", name="Food"), TaxonomyNode(id="fb-1", name="Beverages", parent="fb"),
             TaxonomyNode(id="fb-1-3", name="Coffee", parent="fb-1"),
             TaxonomyNode(id="fb-1-14", name="Tea", parent="fb-1")]
    with Ledger(tmp_path / "g.db") as ledger:
        ledger.upsert_taxonomy(nodes, source="test")
        assert [n.name for n in ledger.taxonomy_path("fb-1-3")] == ["Food", "Beverages", "Coffee"]
        assert [n.id for n in ledger.taxonomy_subtree("fb-1")] == ["fb-1", "fb-1-14", "fb-1-3"]
        assert ledger.taxonomy_subtree("nope") == []


def test_another_connection_reads_while_a_batch_is_open(tmp_path):
    path = tmp_path / "g.db"
    with Ledger(path) as ledger:
        ledger.add_facts([_fact("Illy")])
        with ledger.atomic():
            ledger.db.execute("UPDATE fact_rows SET confidence = 0.1")
            reader = sqlite3.connect(path)
            assert reader.execute("SELECT confidence FROM facts").fetchone()[0] == 0.9  # WAL snapshot
            reader.close()


def test_clearing_a_rejection_never_revives_a_retracted_fact(tmp_path):
    fact = _fact()
    with Ledger(tmp_path / "g.db") as ledger:
        ledger.add_facts([fact])
        ledger.set_status([fact.id], "rejected", run_id="clean1")
        ledger.set_status([fact.id], "retracted", run_id="impute2")
        assert ledger.set_status([fact.id], "active", run_id="clean2", only_from="rejected") == 0
        assert [f.status for f in ledger.facts(subject="p1", status=None)] == ["retracted"]


def test_read_only_ledger_reads_but_cannot_write(tmp_path):
    path = tmp_path / "g.db"
    with Ledger(path) as ledger:
        ledger.add_facts([_fact("Lavazza"), _fact("Illy")])
    before = path.read_bytes()
    with Ledger(path, read_only=True) as reader:
        assert {f.object for f in reader.facts(predicate=[attribute_predicate("Brand"), "other"])} == {"Lavazza", "Illy"}
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.add_facts([_fact("Kimbo")])
    assert path.read_bytes() == before


def test_read_only_ledger_refuses_a_missing_file_or_an_old_schema(tmp_path):
    with pytest.raises(FileNotFoundError):
        Ledger(tmp_path / "absent.db", read_only=True)
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE facts (id TEXT)").connection.close()
    with pytest.raises(StoreError, match="m001_initial, m002_dictionary_encoded_facts not applied"):
        Ledger(old, read_only=True)


def test_a_ledger_before_the_covering_indexes_is_read_as_it_is_and_gains_them_when_written(tmp_path):
    """m003 only widens two indexes: a store without it still opens read-only, answers the same
    and is not written (nothing may apply a migration there); the next writing open applies it."""
    path = tmp_path / "g.db"
    with Ledger(path) as ledger:
        ledger.upsert_products([Product(id="p1", title="Lavazza Espresso", product_type="Coffee"),
                                Product(id="p2", title="Twinings Earl Grey", product_type="Tea")], "r1")
        ledger.add_facts([_fact("Lavazza"), _fact("Illy", confidence=0.2)])
    as_before_m003(path)
    before = path.read_bytes()

    def answers(ledger: Ledger) -> tuple:
        return (ledger.products_with_value("Brand", "illy"), ledger.product_ids_by_type("coffee"),
                ledger.matching_products(["Coffee"], [HasValue(["Brand"], ["LAVAZZA"])]),
                ledger.matching_products(["tea", "coffee"], [HasValue(["Brand"], ["Illy"], negate=True)]))

    with Ledger(path, read_only=True) as reader:
        assert answers(reader) == (["p1"], ["p1"], ["p1"], ["p2"])
        assert index_columns(reader.db, "fact_rows_by_predicate_object") == ["predicate", "object"]
    assert path.read_bytes() == before
    with Ledger(path) as writer:
        assert index_columns(writer.db, "fact_rows_by_predicate_object") == ["predicate", "object", "status", "subject"]
        assert index_columns(writer.db, "products_by_type") == ["product_type", "id"]
        assert answers(writer) == (["p1"], ["p1"], ["p1"], ["p2"])


def test_the_subject_of_a_product_id_in_sql_is_the_one_python_gives(tmp_path):
    from shelfgraph.models import RESERVED_PREFIXES, product_subject
    from shelfgraph.store import product_subject_sql

    ids = ["p1", "a:b", "Type:x", "types:x", ":", "", "product", *(p + "x" for p in RESERVED_PREFIXES),
           *(p for p in RESERVED_PREFIXES), "product:product:x"]
    db = sqlite3.connect(":memory:")
    found = [db.execute(f"SELECT {product_subject_sql('id')} FROM (SELECT ? AS id)", (i,)).fetchone()[0]
             for i in ids]
    assert found == [product_subject(i) for i in ids]
    assert found[ids.index("type:x")] == "product:type:x" and found[ids.index("a:b")] == "a:b"


def test_a_ledger_written_before_dictionary_encoding_migrates_with_its_facts_and_ids(tmp_path):
    from shelfgraph.migrations import MIGRATIONS, migrate

    path = tmp_path / "old.db"
    kept, rejected = _fact("Lavazza"), _fact("Illy")
    rejected.provenance.model = "crf"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[:1])  # the schema as m001 shipped it, facts written as it wrote them
    for fact, status in ((kept, "active"), (rejected, "rejected")):
        p = fact.provenance
        db.execute("INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (fact.id, fact.subject, fact.predicate, fact.object, fact.confidence, status, p.step,
                    p.method, p.model, p.prompt, p.source_field, p.start, p.end, p.run_id, None, 1.0))
    db.close()
    with Ledger(path) as ledger:
        assert ledger.facts(status=None) == [kept, rejected.model_copy(update={"status": "rejected"})]
        assert ledger.add_facts([kept, rejected]) == 0  # same ids: already stored
        assert ledger.set_status([kept.id], "retracted", run_id="r2") == 1
        assert ledger.products_with_value("Brand", "illy") == []  # rejected
        assert ledger.stats()["facts"]["by_status"] == {"rejected": 1, "retracted": 1}


def test_terms_from_an_undone_transaction_or_another_writer_are_never_confused(tmp_path):
    """Subjects and values are interned to ids cached per connection: an id undone by a rollback
    may be handed out again, and another connection adds terms this one has not seen."""
    path = tmp_path / "g.db"
    with Ledger(path) as ledger:
        with pytest.raises(RuntimeError), ledger.atomic():
            ledger.add_facts([_fact("Kimbo")])
            raise RuntimeError("step failed")
        with Ledger(path) as other:
            other.add_facts([_fact("Segafredo")])  # may take the id "Kimbo" had
        ledger.add_facts([_fact("Illy"), _fact("Kimbo")])
        assert [f.object for f in ledger.facts()] == ["Segafredo", "Illy", "Kimbo"]
        assert ledger.products_with_value("Brand", "KIMBO") == ["p1"]
