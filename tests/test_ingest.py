"""Ingestion of every supported format, rejected rows with their lines, idempotent re-ingestion."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.ingest import detect_format, read_taxonomy
from shelfgraph.models import PRODUCT_TYPE, attribute_predicate
from shelfgraph.store import Ledger

runner = CliRunner()


def _ingest(*args: str):
    return runner.invoke(app, ["ingest", *args])


def _stats(store: Path) -> dict:
    result = runner.invoke(app, ["stats", "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_bundled_demo_ingests_with_gold_facts_and_taxonomy(tmp_path, demo_data):
    store = tmp_path / "g.db"
    result = _ingest(str(demo_data / "catalog.jsonl"), str(demo_data / "labelled.jsonl"),
                     "--taxonomy", str(demo_data / "taxonomy"), "--store", str(store))
    assert result.exit_code == 0, result.output
    stats = _stats(store)
    assert stats["products"] == 800
    assert stats["product_types"] == 10
    assert stats["taxonomy_nodes"] > 100
    assert stats["facts"]["by_predicate"][PRODUCT_TYPE] == 800
    assert stats["facts"]["by_predicate"][attribute_predicate("Brand")] > 500


def test_reingesting_the_same_files_changes_no_counts(tmp_path, demo_data):
    store = tmp_path / "g.db"
    files = [str(demo_data / "catalog.jsonl"), "--taxonomy", str(demo_data / "taxonomy"), "--store", str(store)]
    assert _ingest(*files).exit_code == 0
    first = _stats(store)
    assert _ingest(*files).exit_code == 0
    second = _stats(store)
    assert {k: v for k, v in second.items() if k != "runs"} == {k: v for k, v in first.items() if k != "runs"}


def test_gold_values_are_located_in_the_title(tmp_path):
    catalog = tmp_path / "c.jsonl"
    catalog.write_text(json.dumps({"id": "p1", "title": "Lavazza Qualita Rossa Ground Coffee, 8.8 oz",
                                   "product_type": "Coffee", "attributes": {"Brand": "Lavazza",
                                                                            "Roast": "n/a"}}) + "\n")
    with Ledger(tmp_path / "g.db") as ledger:
        from shelfgraph.ingest import ingest_file

        ingest_file(ledger, catalog, run_id="r1")
        [brand] = ledger.facts(subject="p1", predicate=attribute_predicate("Brand"))
        product = ledger.product("p1")
    p = brand.provenance
    assert (p.step, p.method, p.source_field) == ("ingest", "gold", "title")
    assert product.title[p.start:p.end] == "Lavazza"
    assert "Roast" not in product.attributes  # n/a is no value


def test_malformed_rows_are_rejected_with_file_and_line_and_the_rest_is_stored(tmp_path):
    catalog = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"id": "ok1", "title": "Good one"}).encode(),
        b'{"id": "broken", "title": ',  # bad JSON
        json.dumps({"id": "notitle", "description": "x"}).encode(),  # missing title
        json.dumps({"id": "types", "title": "T", "attributes": ["not", "a", "dict"]}).encode(),
        b'{"id": "latin", "title": "Caf\xe9"}',  # not UTF-8
        json.dumps({"id": "ok2", "title": "Good two"}).encode(),
    ]
    catalog.write_bytes(b"\n".join(lines) + b"\n")
    store = tmp_path / "g.db"
    rejected = tmp_path / "rejected.jsonl"
    result = _ingest(str(catalog), "--store", str(store), "--rejected", str(rejected))
    assert result.exit_code == 3
    for line, reason in [(2, "bad JSON"), (3, "missing title"), (4, "attributes must be an object"),
                         (5, "not UTF-8")]:
        assert f"{catalog}:{line}: {reason}" in result.output
    rows = [json.loads(l) for l in rejected.read_text().splitlines()]
    assert [r["line"] for r in rows] == [2, 3, 4, 5]
    assert _stats(store)["products"] == 2


def test_rejected_rows_never_remove_what_was_stored(tmp_path):
    store = tmp_path / "g.db"
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "title": "A", "attributes": {"Brand": "X"}}) + "\n")
    assert _ingest(str(good), "--store", str(store)).exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    assert _ingest(str(bad), "--store", str(store)).exit_code == 3
    assert _stats(store)["facts"]["total"] == 1


def test_csv_and_parquet_catalogues(tmp_path):
    csv_file = tmp_path / "c.csv"
    csv_file.write_text('id,title,product_type,Brand\nc1,"Illy Classico, Whole Bean",Coffee,Illy\nc2,,Coffee,X\n')
    parquet_file = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": ["q1"], "title": ["Twinings Earl Grey"], "category": ["Tea"],
                             "attributes": [[("Brand", "Twinings")]]},
                            schema=pa.schema([("id", pa.string()), ("title", pa.string()),
                                              ("category", pa.string()),
                                              ("attributes", pa.map_(pa.string(), pa.string()))])),
                   parquet_file)
    assert detect_format(csv_file) == "catalog-csv" and detect_format(parquet_file) == "catalog-parquet"
    store = tmp_path / "g.db"
    result = _ingest(str(csv_file), str(parquet_file), "--store", str(store))
    assert result.exit_code == 3  # c2 has no title
    assert f"{csv_file}:3: missing title" in result.output
    with Ledger(store) as ledger:
        assert ledger.products_with_value("Brand", "Illy") == ["c1"]
        assert ledger.products_with_value("Brand", "Twinings") == ["q1"]
        assert ledger.product("c1").title == "Illy Classico, Whole Bean"


def test_oa_mine_and_wdc_pave_records(tmp_path):
    oa = tmp_path / "oa.jsonl"
    oa.write_text(json.dumps({"input": "Diesel Men's Exposure High-Top Sneaker", "category": "Shoes",
                              "target_scores": {"Brand": {"Diesel": 1}, "Gender": {"Men's": 1}}}) + "\n")
    wdc = tmp_path / "wdc.jsonl"
    wdc.write_text(json.dumps({"id": 7, "cluster_id": 1.0, "category": "Computers And Accessories",
                               "input_title": "HP Xeon E5335", "input_description": "Processor Option Kit",
                               "target_scores": {"Product Type": {"Processor Option Kit": {"pid": [1], "score": 1}},
                                                 "Cache": {"n/a": 1}}, "url": "u"}) + "\n")
    assert (detect_format(oa), detect_format(wdc)) == ("oa-mine", "wdc-pave")
    store = tmp_path / "g.db"
    assert _ingest(str(oa), str(wdc), "--store", str(store)).exit_code == 0
    with Ledger(store) as ledger:
        [kit] = ledger.facts(subject="wdc-7", predicate=attribute_predicate("Product Type"))
        assert ledger.facts(subject="wdc-7", predicate=attribute_predicate("Cache")) == []
        assert len(ledger.products_with_value("Gender", "Men's")) == 1
    assert kit.provenance.source_field == "description"
    assert (kit.provenance.start, kit.provenance.end) == (0, 20)


def test_reviews_and_questions_attach_to_products(tmp_path):
    catalog = tmp_path / "c.jsonl"
    catalog.write_text(json.dumps({"id": "p1", "title": "Illy Classico"}) + "\n")
    texts = tmp_path / "reviews.jsonl"
    texts.write_text("\n".join([
        json.dumps({"product_id": "p1", "text": "Smooth medium roast."}),
        json.dumps({"product_id": "p1", "text": "Is it decaf? No.", "kind": "qa"}),
        json.dumps({"product_id": "zzz", "text": "orphan"}),
    ]) + "\n")
    store = tmp_path / "g.db"
    result = _ingest(str(catalog), "--reviews", str(texts), "--store", str(store))
    assert result.exit_code == 3
    assert f"{texts}:3: unknown product_id 'zzz'" in result.output
    with Ledger(store) as ledger:
        product = ledger.product("p1")
    assert [r.text for r in product.reviews] == ["Smooth medium roast."]
    assert [q.text for q in product.questions] == ["Is it decaf? No."]
    assert product.field_text(f"review:{product.reviews[0].id}") == "Smooth medium roast."


def test_taxonomy_formats(tmp_path, demo_data):
    google = tmp_path / "taxonomy-with-ids.en-US.txt"
    google.write_text("# Google_Product_Taxonomy_Version: 2021-09-21\n1 - Animals & Pet Supplies\n"
                      "3237 - Animals & Pet Supplies > Live Animals\n2 - Animals & Pet Supplies > Pet Supplies\n")
    plain = tmp_path / "tax.csv"
    plain.write_text("id,name,parent_id\nr,Root,\nc,Coffee,r\n")
    assert [(n.id, n.parent) for n in read_taxonomy(google)] == [("1", None), ("3237", "1"), ("2", "1")]
    assert [(n.name, n.parent) for n in read_taxonomy(plain)] == [("Root", None), ("Coffee", "r")]
    shopify = {n.id: n for n in read_taxonomy(demo_data / "taxonomy")}
    assert shopify["fb-1-3"].name == "Coffee" and shopify["fb-1-3"].parent == "fb-1"
    assert "Color" not in shopify["fb-1-3"].attributes and shopify["fb-1-3"].attributes
    store = tmp_path / "g.db"
    assert _ingest(str(plain), "--store", str(store)).exit_code == 0
    with Ledger(store) as ledger:
        assert [n.name for n in ledger.taxonomy_path("c")] == ["Root", "Coffee"]


def test_show_lists_facts_with_provenance(tmp_path):
    catalog = tmp_path / "c.jsonl"
    catalog.write_text(json.dumps({"id": "p1", "title": "Lavazza Espresso", "attributes": {"Brand": "Lavazza"}}) + "\n")
    store = tmp_path / "g.db"
    _ingest(str(catalog), "--store", str(store))
    result = runner.invoke(app, ["show", "p1", "--store", str(store), "--json"])
    assert result.exit_code == 0
    shown = json.loads(result.output)
    [fact] = shown["facts"]
    assert fact["object"] == "Lavazza" and fact["provenance"]["source_field"] == "title"
    assert fact["id"].startswith("sha256:")
    missing = runner.invoke(app, ["show", "nope", "--store", str(store)])
    assert missing.exit_code == 1 and "no product 'nope'" in missing.output
