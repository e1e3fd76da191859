"""Product text reaches terminals and exports harmless: escape sequences and rich markup are
shown, never obeyed; NUL and other control characters never break Turtle or JSON-LD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.store import Ledger

runner = CliRunner()
# Clear the screen, set the window title, colour red, an 8-bit CSI, a carriage return that
# would overwrite the line, a bidi override, and rich markup.
HOSTILE = "Espresso \x1b[2J\x1b]0;pwned\x07\x1b[31mRED\x9b1m\rX\u202e [bold]B[/bold]"
CONTROLS = ["\x1b", "\x07", "\x9b", "\r", "\u202e"]


def _assert_neutralised(output: str) -> None:
    assert not [c for c in CONTROLS if c in output], repr(output)
    assert "\\x1b[2J" in output and "\\x9b" in output and "[bold]B[/bold]" in output


@pytest.fixture
def hostile_store(tmp_path: Path) -> Path:
    catalog = tmp_path / "c.jsonl"
    catalog.write_text(json.dumps({"id": "p1", "title": f"Coffee {HOSTILE}", "product_type": "Coffee",
                                   "attributes": {f"Roast {HOSTILE}": HOSTILE}}) + "\n", encoding="utf-8")
    store = tmp_path / "g.db"
    result = runner.invoke(app, ["ingest", str(catalog), "--store", str(store)])
    assert result.exit_code == 0, result.output
    return store


def test_show_prints_control_characters_and_markup_as_text(hostile_store: Path):
    result = runner.invoke(app, ["show", "p1", "--store", str(hostile_store)])
    assert result.exit_code == 0, result.output
    _assert_neutralised(result.output)


def test_stats_prints_attribute_names_as_text(hostile_store: Path):
    result = runner.invoke(app, ["stats", "--store", str(hostile_store)])
    assert result.exit_code == 0, result.output
    _assert_neutralised(result.output)


def test_ask_prints_product_text_as_text(hostile_store: Path):
    result = runner.invoke(app, ["ask", "which coffee products?", "--store", str(hostile_store), "--no-llm"])
    assert result.exit_code == 0, result.output
    assert "p1" in result.output
    _assert_neutralised(result.output)


def test_the_build_summary_prints_type_names_as_text(capsys):
    from shelfgraph.summary import print_summary

    summary = {"run_id": "r1", "products": 1, "seconds": 0.1, "facts_before": 1, "facts_after": 2,
               "facts_increase_percent": 100.0, "types_before": 0, "types_after": 1, "rejected_by_cleaning": 0,
               "llm": {"calls": 0, "cache_hits": 0}, "placements": {HOSTILE: f"Food > {HOSTILE}"},
               "applicable_attributes": {HOSTILE: [HOSTILE]}, "synonym_groups": [[f"type:{HOSTILE}", "type:x"]],
               "steps": [{"step": "type", "method": "baseline", "units": 1, "done": 1, "skipped": 0,
                          "facts_added": 1, "retracted": 0, "flagged": 0, "seconds": 0.1}],
               "notes": [f"synonyms (baseline) skipped: no pairs for {HOSTILE}"]}
    print_summary(summary)
    _assert_neutralised(capsys.readouterr().out)


def test_logs_print_model_output_as_text(shelfgraph_home: Path):
    from shelfgraph.llm.calllog import CallLog

    log = CallLog(shelfgraph_home / "logs.db")
    log.record(model="gemma", backend="local", verb="complete", prompt_ref=None, input="hi", output=HOSTILE,
               latency_ms=1.0, cache_key="k")
    log.close()
    result = runner.invoke(app, ["logs"], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert not [c for c in CONTROLS if c in result.output]
    assert "\\x1b[2J" in result.output


def test_rdf_exports_of_text_with_nul_and_control_characters_parse_back(tmp_path: Path):
    from rdflib import Graph, URIRef
    from rdflib.namespace import RDF

    catalog = tmp_path / "c.jsonl"
    title = "Nul\x00 bell\x07 esc\x1b[31m form\x0c feed"
    catalog.write_text(json.dumps({"id": "p\x001", "title": title, "attributes": {"Brand\x00": "Illy\x00"}}) + "\n",
                       encoding="utf-8")
    store = tmp_path / "g.db"
    assert runner.invoke(app, ["ingest", str(catalog), "--store", str(store)]).exit_code == 0
    with Ledger(store) as ledger:
        facts = len(ledger.facts())
    for fmt, rdf_format in (("turtle", "turtle"), ("jsonld", "json-ld")):
        out = tmp_path / f"g.{fmt}"
        result = runner.invoke(app, ["export", "--store", str(store), "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "\x00" not in out.read_text(encoding="utf-8")
        graph = Graph().parse(out, format=rdf_format)
        [product] = graph.subjects(RDF.type, URIRef("https://schema.org/Product"))
        assert str(graph.value(product, URIRef("https://schema.org/name"))) == title  # escaped, not lost
        assert len(set(graph.subjects(RDF.type, RDF.Statement))) == facts


def test_neo4j_names_with_newlines_read_back_whole(tmp_path: Path):
    import csv

    catalog = tmp_path / "c.jsonl"
    catalog.write_text(json.dumps({"id": "p1", "title": "Line one\nline \"two\", and more",
                                   "attributes": {"Brand": "Illy"}}) + "\n", encoding="utf-8")
    store = tmp_path / "g.db"
    runner.invoke(app, ["ingest", str(catalog), "--store", str(store)])
    folder = tmp_path / "neo4j"
    result = runner.invoke(app, ["export", "--store", str(store), "--format", "neo4j-csv", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    with (folder / "nodes.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id:ID", "name", ":LABEL"]  # what neo4j-admin database import reads
    assert ["p1", "Line one\nline \"two\", and more", "Product"] in rows
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "neo4j-admin database import full" in readme and "--multiline-fields=true" in readme
