"""Identifiers never collide: a catalogue row cannot take a type's, a value's or a taxonomy
node's place (in the ledger, in RDF, in the Neo4j CSVs), two different facts never share an
id, and a product id repeated in one batch is reported instead of silently replacing a row."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.models import Fact, Provenance, attribute_predicate, product_subject, type_subject
from shelfgraph.store import Ledger

runner = CliRunner()
SCHEMA_PRODUCT = "https://schema.org/Product"


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _ingest(store: Path, *files: Path) -> object:
    return runner.invoke(app, ["ingest", *map(str, files), "--store", str(store)])


def _reserved_catalogue(tmp_path: Path) -> tuple[Path, Path]:
    """A product named like the type `coffee`, one named like taxonomy node `fb-1`, and an
    ordinary coffee whose type becomes the node `type:coffee`."""
    catalog = _write_jsonl(tmp_path / "c.jsonl", [
        {"id": "type:coffee", "title": "Illy Classico Whole Bean", "attributes": {"Brand": "Illy"}},
        {"id": "taxonomy:fb-1", "title": "Twinings Earl Grey", "attributes": {"Brand": "Twinings"}},
        {"id": "p1", "title": "Lavazza Espresso", "product_type": "Coffee", "attributes": {"Brand": "Lavazza"}},
    ])
    taxonomy = tmp_path / "tax.csv"
    taxonomy.write_text("id,name,parent_id\nfb-1,Food & Beverages,\n", encoding="utf-8")
    return catalog, taxonomy


def test_a_product_with_a_reserved_id_is_not_the_node_it_looks_like(tmp_path):
    catalog, taxonomy = _reserved_catalogue(tmp_path)
    store = tmp_path / "g.db"
    assert _ingest(store, taxonomy, catalog).exit_code == 0
    with Ledger(store) as ledger:
        assert ledger.facts(subject=type_subject("coffee")) == []  # the type node holds no product's facts
        [brand] = ledger.facts(subject=product_subject("type:coffee"))
        assert brand.object == "Illy"
        assert ledger.products_with_value("Brand", "Illy") == ["type:coffee"]
        ordinary = ledger.facts(subject="p1", predicate=attribute_predicate("Brand"))
        assert [f.subject for f in ordinary] == ["p1"]  # ordinary ids are their own subjects, as before
    shown = runner.invoke(app, ["show", "type:coffee", "--store", str(store), "--json"])
    assert shown.exit_code == 0, shown.output
    assert [f["object"] for f in json.loads(shown.output)["facts"]] == ["Illy"]


def test_rdf_keeps_products_types_and_taxonomy_nodes_apart(tmp_path):
    from rdflib import Graph, URIRef
    from rdflib.namespace import RDF, SKOS

    catalog, taxonomy = _reserved_catalogue(tmp_path)
    store = tmp_path / "g.db"
    _ingest(store, taxonomy, catalog)
    out = tmp_path / "g.ttl"
    assert runner.invoke(app, ["export", "--store", str(store), "--format", "turtle", "--out", str(out)]).exit_code == 0
    graph = Graph().parse(out, format="turtle")
    products = set(graph.subjects(RDF.type, URIRef(SCHEMA_PRODUCT)))
    concepts = set(graph.subjects(RDF.type, SKOS.Concept))
    assert len(products) == 3 and not products & concepts
    illy = next(p for p in products if "Illy" in str(graph.value(p, URIRef("https://schema.org/name"))))
    assert any(graph.triples((illy, URIRef("https://schema.org/additionalProperty"), None)))
    assert len(concepts) == 2  # the type `coffee` and the taxonomy node fb-1


def _neo4j(store: Path, folder: Path) -> tuple[list[dict], list[dict]]:
    result = runner.invoke(app, ["export", "--store", str(store), "--format", "neo4j-csv", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    read = lambda name: list(csv.DictReader((folder / name).open(encoding="utf-8", newline="")))  # noqa: E731
    return read("nodes.csv"), read("relationships.csv")


def test_neo4j_nodes_are_one_per_thing_with_the_right_label(tmp_path):
    catalog, taxonomy = _reserved_catalogue(tmp_path)
    store = tmp_path / "g.db"
    _ingest(store, taxonomy, catalog)
    nodes, relationships = _neo4j(store, tmp_path / "neo4j")
    ids = [n["id:ID"] for n in nodes]
    assert len(ids) == len(set(ids))
    labels = {(n["name"], n[":LABEL"]) for n in nodes}
    assert {("Illy Classico Whole Bean", "Product"), ("Twinings Earl Grey", "Product"),
            ("Lavazza Espresso", "Product"), ("Coffee", "ProductType"), ("Food & Beverages", "Category")} <= labels
    by_id = {n["id:ID"]: n for n in nodes}
    has_type = [r for r in relationships if r[":TYPE"] == "HAS_TYPE"]
    assert [by_id[r[":END_ID"]][":LABEL"] for r in has_type] == ["ProductType"]
    assert all(by_id[r[":START_ID"]][":LABEL"] == "Product" for r in relationships if r[":TYPE"] == "HAS_VALUE")


def test_values_of_attributes_with_colons_are_different_nodes(tmp_path):
    catalog = _write_jsonl(tmp_path / "c.jsonl", [
        {"id": "p1", "title": "Clock one", "attributes": {"time:zone": "utc"}},
        {"id": "p2", "title": "Clock two", "attributes": {"time": "zone:utc"}},
    ])
    store = tmp_path / "g.db"
    _ingest(store, catalog)
    nodes, relationships = _neo4j(store, tmp_path / "neo4j")
    values = [n for n in nodes if n[":LABEL"] == "Value"]
    assert sorted(n["name"] for n in values) == ["utc", "zone:utc"]
    assert len({r[":END_ID"] for r in relationships if r[":TYPE"] == "HAS_VALUE"}) == 2


def _fact(**fields: str | None) -> Fact:
    provenance = {"step": "ingest", "method": "gold", "run_id": "r1", "model": None}
    provenance.update({k: v for k, v in fields.items() if k in Provenance.model_fields})
    triple = {"subject": "p1", "predicate": "attr:Brand", "object": "Illy"}
    triple.update({k: v for k, v in fields.items() if k in triple})
    return Fact(**triple, provenance=Provenance(**provenance))


def test_facts_whose_text_holds_the_separators_get_their_own_ids(tmp_path):
    # Joined with \x1f, these two were the same bytes; so were "no model" (NUL) and a model "\x00".
    a = _fact(predicate="attr:size\x1f12", object="oz")
    b = _fact(predicate="attr:size", object="12\x1foz")
    c, d = _fact(model=None), _fact(model="\x00")
    assert a.id != b.id and c.id != d.id
    with Ledger(tmp_path / "g.db") as ledger:
        assert ledger.add_facts([a, b, c, d]) == 4
        assert {f.object for f in ledger.facts(subject="p1")} == {"oz", "12\x1foz", "Illy"}


def test_ordinary_facts_keep_the_ids_they_always_had():
    fact = _fact(source_field="title")
    old = "\x1f".join(["p1", "attr:Brand", "Illy", "ingest", "gold", "\x00", "\x00", "title", "\x00", "\x00"])
    assert fact.key == hashlib.sha256(old.encode("utf-8")).digest()[:16]


def test_a_product_id_repeated_in_one_batch_is_rejected_with_file_and_line(tmp_path):
    first = _write_jsonl(tmp_path / "a.jsonl", [{"id": "p1", "title": "Lavazza Espresso"},
                                                 {"id": "p2", "title": "Illy Classico"},
                                                 {"id": "p2", "title": "Illy Intenso"}])
    second = _write_jsonl(tmp_path / "b.jsonl", [{"id": "p3", "title": "Kimbo Napoli"},
                                                  {"id": "p1", "title": "Lavazza Crema e Gusto"}])
    store = tmp_path / "g.db"
    result = _ingest(store, first, second)
    assert result.exit_code == 3
    assert f"{second}:2: duplicate product id 'p1' (first at {first}:1)" in result.output
    assert f"{first}:3: duplicate product id 'p2' (first at {first}:2)" in result.output
    rejected = [json.loads(line) for line in (tmp_path / "g.db.rejected.jsonl").read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in rejected] == [(str(first), 3), (str(second), 2)]
    assert json.loads(rejected[1]["raw"])["title"] == "Lavazza Crema e Gusto"  # the row to fix and re-feed
    with Ledger(store) as ledger:
        assert {p.id: p.title for p in ledger.products()} == {
            "p1": "Lavazza Espresso", "p2": "Illy Classico", "p3": "Kimbo Napoli"}
    again = _ingest(store, second)  # a later batch may update a product: no duplicate then
    assert again.exit_code == 0, again.output
    with Ledger(store) as ledger:
        assert ledger.product("p1").title == "Lavazza Crema e Gusto"


def test_an_identical_repeated_row_is_skipped_not_rejected(tmp_path):
    """OA-Mine's train file repeats two lines byte for byte: nothing is replaced, nothing lost."""
    catalog = _write_jsonl(tmp_path / "a.jsonl", [{"id": "p1", "title": "Lavazza Espresso"},
                                                   {"id": "p1", "title": "Lavazza Espresso"}])
    result = _ingest(tmp_path / "g.db", catalog)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "g.db.rejected.jsonl").exists() or not (tmp_path / "g.db.rejected.jsonl").read_text()
    with Ledger(tmp_path / "g.db") as ledger:
        assert [p.title for p in ledger.products()] == ["Lavazza Espresso"]
