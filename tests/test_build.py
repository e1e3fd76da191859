"""`shelfgraph build` end to end on the bundled demo data (baseline steps, and the agents on two
products): resumable after SIGKILL, incremental, the same facts through Ray, and exports that
parse back."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.models import BROADER, type_subject
from shelfgraph.store import Ledger

runner = CliRunner()


def _build(store: Path, catalog: Path, demo: Path, *extra: str, method: str = "baseline") -> dict:
    result = runner.invoke(app, ["build", str(catalog), "--taxonomy", str(demo / "taxonomy"),
                                 "--labelled", str(_labelled(catalog, demo)), "--store", str(store),
                                 "--method", method, "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _graph(store: Path) -> set[tuple[str, str]]:
    with Ledger(store) as ledger:
        return {(f.id, f.status) for f in ledger.facts(status=None)}


def _labelled(catalog: Path, demo: Path) -> Path:
    """A quarter of the labelled examples (15 per type): enough to learn from, quick to train."""
    path = catalog.parent / "labelled.jsonl"
    if not path.exists():
        lines = (demo / "labelled.jsonl").read_text().splitlines()
        path.write_text("\n".join(lines[::4]) + "\n")
    return path


@pytest.fixture
def small_catalog(tmp_path, demo_data) -> Path:
    lines = (demo_data / "catalog.jsonl").read_text().splitlines()
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(lines[:20]) + "\n")  # 20 products: types take turns, two of each
    return path


def _catalogue(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _type_facts(store: Path, types: set[str]) -> set[tuple[str, str]]:
    """(id, status) of the facts about these types: their hypernym, relations and synonyms."""
    with Ledger(store) as ledger:
        return {(f.id, f.status) for t in types for f in ledger.facts(subject=type_subject(t), status=None)}


def test_a_second_batch_leaves_the_first_batchs_graph_as_it_was(tmp_path, demo_data):
    """Issue 14: the graph-level stages read the whole graph, not the batch. A second catalogue of
    other types retracts nothing, redoes none of the first one's types, and adds its own."""
    lines = (demo_data / "catalog.jsonl").read_text().splitlines()  # lines i and i+10 share a type
    first = _catalogue(tmp_path / "first.jsonl", lines[:5] + lines[10:15])
    second = _catalogue(tmp_path / "second.jsonl", lines[5:10] + lines[15:20])
    types = {kind: {json.loads(l)["product_type"].lower() for l in path.read_text().splitlines()}
             for kind, path in (("first", first), ("second", second))}
    store = tmp_path / "g.db"
    _build(store, first, demo_data)
    graph, first_types = _graph(store), _type_facts(store, types["first"])
    assert any(fact_id for fact_id, _ in first_types)
    summary = _build(store, second, demo_data)
    active = {fact_id for fact_id, status in _graph(store) if status == "active"}
    assert {fact_id for fact_id, status in graph if status == "active"} <= active
    assert _type_facts(store, types["first"]) == first_types
    relations = next(s for s in summary["steps"] if s["step"] == "relations")
    assert (relations["units"], relations["done"], relations["retracted"]) == (10, 5, 0)
    assert all(s["retracted"] == 0 for s in summary["steps"]), summary["steps"]
    with Ledger(store) as ledger:
        assert all(ledger.facts(subject=type_subject(t), predicate="applicable_attribute") for t in types["second"])


def test_a_smaller_limit_retracts_nothing(tmp_path, small_catalog, demo_data):
    store = tmp_path / "g.db"
    _build(store, small_catalog, demo_data, "--limit", "20")
    graph = _graph(store)
    again = _build(store, small_catalog, demo_data, "--limit", "5")
    assert all(s["done"] == 0 and s["retracted"] == 0 for s in again["steps"]), again["steps"]
    assert _graph(store) == graph


def test_a_type_gone_from_the_graph_has_its_facts_retracted_not_deleted(tmp_path, demo_data):
    """A type the catalogue does not give (so hypernym places it) held by one product: when that
    product is ingested again as a tea, the type's placement and relations are retracted (kept,
    marked), and the facts of every type but tea (which gained a product) stay as they were."""
    lines = (demo_data / "catalog.jsonl").read_text().splitlines()
    records = [json.loads(l) for l in lines[:10]]
    vitamin = next(r for r in records if r["product_type"] == "Vitamin")
    del vitamin["product_type"]  # its type comes from the type step: "vitamin", not in the taxonomy
    vitamin["title"] = json.loads(lines[19])["title"]  # a title the tagger reads it from ("..., Vitamin Supplements")
    store = tmp_path / "g.db"
    _build(store, _catalogue(tmp_path / "first.jsonl", [json.dumps(r) for r in records]), demo_data)
    others = {r["product_type"].lower() for r in records if r is not vitamin} - {"tea"}
    kept = _type_facts(store, others)
    gone = _type_facts(store, {"vitamin"})
    with Ledger(store) as ledger:
        assert ledger.facts(subject=type_subject("vitamin"), predicate=BROADER)
        assert ledger.facts(subject=type_subject("vitamin"), predicate="applicable_attribute")
    tea = next(r for r in records if r["product_type"] == "Tea")
    changed = {**vitamin, "title": tea["title"], "product_type": "Tea", "attributes": tea["attributes"]}
    _build(store, _catalogue(tmp_path / "second.jsonl", [json.dumps(changed)]), demo_data)
    assert _type_facts(store, others) == kept
    assert _type_facts(store, {"vitamin"}) == {(fact_id, "retracted") for fact_id, _ in gone}
    with Ledger(store) as ledger:
        assert all(ledger.fact_history(fact_id)[-1]["status"] == "retracted" for fact_id, _ in gone)


def test_build_grows_the_graph_with_provenance(tmp_path, small_catalog, demo_data):
    store = tmp_path / "g.db"
    summary = _build(store, small_catalog, demo_data)
    assert summary["products"] == 20
    assert summary["facts_after"] > summary["facts_before"]
    assert [s["step"] for s in summary["steps"]] == ["type", "hypernym", "relations", "imputation",
                                                    "cleaning", "synonyms"]
    with Ledger(store) as ledger:
        imputed = ledger.facts(step="imputation")
        assert imputed
        for fact in imputed:
            p = fact.provenance
            product = ledger.product(fact.subject)
            assert product.field_text(p.source_field)[p.start:p.end] == fact.object
            assert p.method == "baseline" and p.run_id == summary["run_id"]
        runs = ledger.runs()
    assert runs[0].status == "finished" and runs[0].summary["facts_after"] == summary["facts_after"]


def test_rerun_on_unchanged_input_does_no_work_and_a_changed_product_is_redone(tmp_path, small_catalog, demo_data):
    store = tmp_path / "g.db"
    _build(store, small_catalog, demo_data)
    graph = _graph(store)
    again = _build(store, small_catalog, demo_data)
    assert all(step["done"] == 0 for step in again["steps"]), again["steps"]
    assert _graph(store) == graph
    assert again["llm"]["calls"] == 0

    records = [json.loads(l) for l in small_catalog.read_text().splitlines()]
    changed = records[0]
    changed["title"] = "Zzyzx Decaf Whole Bean Coffee, 12 Ounce"
    small_catalog.write_text("".join(json.dumps(r) + "\n" for r in records))
    third = _build(store, small_catalog, demo_data)
    by_step = {s["step"]: s for s in third["steps"]}
    assert by_step["type"]["done"] == 1  # only the changed product
    assert by_step["type"]["units"] == 20
    assert by_step["imputation"]["done"] <= 1 and by_step["cleaning"]["done"] == 1
    with Ledger(store) as ledger:
        assert ledger.product(changed["id"]).title == changed["title"]
        retracted = ledger.facts(subject=changed["id"], status="retracted")
        active = ledger.facts(subject=changed["id"])
    # what was read from the old title no longer holds; what is active is read from the new one
    assert retracted
    for fact in active:
        p = fact.provenance
        if p.source_field == "title":  # types are stored normalised (lower case)
            assert changed["title"][p.start:p.end].lower() == fact.object.lower()


def test_agent_build_rerun_on_unchanged_input_makes_no_model_call(tmp_path, demo_data, shelfgraph_home,
                                                                 packaged_gguf):
    # Two products in the store, not `--limit 2`: relations and synonyms read the whole store.
    catalog = _catalogue(tmp_path / "catalog.jsonl", (demo_data / "catalog.jsonl").read_text().splitlines()[:2])
    store = tmp_path / "g.db"
    options = ("--model", str(packaged_gguf))
    first = _build(store, catalog, demo_data, *options, method="agent")
    done = {s["step"]: s["done"] for s in first["steps"]}
    assert first["llm"]["calls"] > 0 and done["type"] == 2 and done["relations"] > 0 and done["imputation"] > 0
    graph = _graph(store)
    again = _build(store, catalog, demo_data, *options, method="agent")
    assert all(step["done"] == 0 for step in again["steps"]), again["steps"]
    assert again["llm"]["calls"] == 0
    assert _graph(store) == graph


@pytest.mark.timeout(600)
def test_build_killed_mid_step_resumes_to_the_same_graph(tmp_path, small_catalog, demo_data):
    reference = tmp_path / "reference.db"
    _build(reference, small_catalog, demo_data)

    store = tmp_path / "killed.db"
    config = tmp_path / "slow.toml"
    config.write_text("batch_size = 1\n")
    command = [sys.executable, "-m", "shelfgraph", "build", str(small_catalog), "--taxonomy",
               str(demo_data / "taxonomy"), "--labelled", str(_labelled(small_catalog, demo_data)),
               "--store", str(store), "--method", "baseline", "--quiet", "--config", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ})
    killed_mid_step = False
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM step_work WHERE step='imputation'").fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
            if 0 < done:
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed_mid_step = True
                break
        time.sleep(0.01)
    assert killed_mid_step, "the build finished before it could be killed"
    with Ledger(store) as ledger:
        assert ledger.runs()[0].status == "running"  # it really died mid-run
    _build(store, small_catalog, demo_data, "--config", str(config))
    assert _graph(store) == _graph(reference)


@pytest.mark.timeout(600)
def test_ray_engine_produces_the_same_facts_as_the_local_engine(tmp_path, small_catalog, demo_data):
    local, distributed = tmp_path / "local.db", tmp_path / "ray.db"
    _build(local, small_catalog, demo_data)
    _build(distributed, small_catalog, demo_data, "--engine", "ray", "--workers", "1")
    assert _graph(distributed) == _graph(local)


def test_exports_parse_back(tmp_path, small_catalog, demo_data):
    import pyarrow.parquet as pq
    from rdflib import Graph, URIRef
    from rdflib.namespace import RDF, SKOS

    store = tmp_path / "g.db"
    _build(store, small_catalog, demo_data)
    with Ledger(store) as ledger:
        active = ledger.facts()
    for fmt, name in (("turtle", "g.ttl"), ("jsonld", "g.jsonld"), ("jsonl", "g.jsonl"),
                      ("parquet", "g.parquet"), ("neo4j-csv", "neo4j")):
        result = runner.invoke(app, ["export", "--store", str(store), "--format", fmt, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    for name, rdf_format in (("g.ttl", "turtle"), ("g.jsonld", "json-ld")):
        graph = Graph().parse(tmp_path / name, format=rdf_format)
        statements = set(graph.subjects(RDF.type, RDF.Statement))
        assert len(statements) == len(active)
        assert any(graph.triples((None, SKOS.broader, None)))
        assert any(graph.triples((None, RDF.type, URIRef("https://schema.org/Product"))))
    rows = [json.loads(l) for l in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rows} == {f.id for f in active}
    assert pq.read_table(tmp_path / "g.parquet").num_rows == len(active)
    header = (tmp_path / "neo4j" / "relationships.csv").read_text().splitlines()[0]
    assert header.startswith(":START_ID,:END_ID,:TYPE,confidence:float")
