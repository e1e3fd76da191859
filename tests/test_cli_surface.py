"""The CLI a newcomer meets: `--version`, the choices of every fixed-value option in `--help`,
`--json` on build, index and export, a readable `stats`, `show` with evidence spans, and the
end of `make demo` naming commands that exist."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from conftest import ROOT
from shelfgraph import registry
from shelfgraph.cli import app
from shelfgraph.cli.options import method_name
from shelfgraph.stages.imputation import ImputationStep

runner = CliRunner()


def _plain(output: str) -> str:
    """Terminal output without rich's boxes and line wrapping."""
    return " ".join(re.sub("[│╭╮╰╯─┃┏┓┗┛━┡┩╇╈┳┻┠┨┯┷]", " ", output).split())


def test_version():
    import shelfgraph

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"shelfgraph {shelfgraph.__version__}"


@pytest.mark.parametrize("command, choices", [
    (["build"], ["<agent|baseline|hybrid>", "<local|ray>", "<auto|local|vllm|llama_cpp|llama_server|ollama|openai>"]),
    (["export"], ["<turtle|jsonld|jsonl|neo4j-csv|parquet>"]),
    (["extract"], ["<agent|baseline|hybrid>"]),
    (["eval", "extraction"], ["<agent|baseline|hybrid>"]),
    (["eval", "cleaning"], ["<agent|baseline|hybrid>"]),
    (["eval", "build-pairs"], ["<train|train_large>"]),
])
def test_help_lists_the_values_of_fixed_value_options(command, choices):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for choice in choices:
        assert choice in result.output, (command, choice)


def test_a_wrong_value_is_refused_with_the_valid_ones_and_a_plugin_method_is_accepted(monkeypatch, tmp_path):
    (tmp_path / "x.db").touch()
    result = runner.invoke(app, ["export", "--store", str(tmp_path / "x.db"), "--format", "rdf", "--out", "x"])
    assert result.exit_code == 2 and "'rdf' is not one of" in _plain(result.output)
    result = runner.invoke(app, ["build", "x.jsonl", "--method", "clever"])
    assert result.exit_code == 2 and "valid: agent, baseline, hybrid" in _plain(result.output)

    class Echo(ImputationStep):
        def __init__(self, context=None):
            pass

        def predict(self, products, attributes):
            return [[] for _ in products]

    registry.methods("imputation")  # the real plugins loaded; the test's own is forgotten afterwards
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    registry.register("imputation", "echo-plugin", Echo)
    assert method_name("echo-plugin") == "echo-plugin"  # a registered plugin's name passes


def test_stats_groups_the_attribute_predicates(tmp_path, demo_data):
    store = tmp_path / "g.db"
    assert runner.invoke(app, ["ingest", str(demo_data / "labelled.jsonl"), "--store", str(store)]).exit_code == 0
    counts = json.loads(runner.invoke(app, ["stats", "--store", str(store), "--json"]).output)
    attributes = {p: n for p, n in counts["facts"]["by_predicate"].items() if p.startswith("attr:")}
    assert len(attributes) > 20  # the JSON keeps every predicate for scripts
    result = runner.invoke(app, ["stats", "--store", str(store)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = _plain(result.output)
    assert f"attributes (attr:*) {len(attributes)} {sum(attributes.values()):,}" in text  # one row
    top = sorted(attributes.items(), key=lambda a: (-a[1], a[0]))
    assert (f"attributes: {len(attributes)} predicates, {sum(attributes.values()):,} facts; top 10: "
            f"{top[0][0][5:]} {top[0][1]:,}, {top[1][0][5:]} {top[1][1]:,}") in text  # most frequent first
    assert top[-1][0] not in text  # the long tail is not listed row by row
    assert "{" not in result.output  # a table, not a Python dict


def test_build_index_and_export_print_json_and_show_prints_the_evidence(tmp_path, demo_data):
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join((demo_data / "catalog.jsonl").read_text().splitlines(True)[:2]))
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join((demo_data / "labelled.jsonl").read_text().splitlines(True)[::10]))
    store = tmp_path / "g.db"
    built = runner.invoke(app, ["build", str(catalog), "--labelled", str(labelled), "--store", str(store), "--json"])
    assert built.exit_code == 0, built.output
    summary = json.loads(built.stdout.strip().splitlines()[-1])
    assert summary["products"] == 2 and summary["run_id"] and summary["rejected_rows"] == 0

    exported = runner.invoke(app, ["export", "--store", str(store), "--format", "jsonl", "--out",
                                   str(tmp_path / "facts.jsonl"), "--json"])
    assert json.loads(exported.output) == {"format": "jsonl", "files": [str(tmp_path / "facts.jsonl")]}
    assert len((tmp_path / "facts.jsonl").read_text().splitlines()) == summary["facts_after"]

    indexed = runner.invoke(app, ["index", "--store", str(store), "--json"])
    assert indexed.exit_code == 0, indexed.output
    assert json.loads(indexed.output)["products"] == 2

    shown = runner.invoke(app, ["show", "demo-021", "--store", str(store)], env={"COLUMNS": "250"})
    assert shown.exit_code == 0
    assert "title[0:18] Door County Coffee, Cherry Crème" in _plain(shown.output)  # the span, in its text


def test_make_demo_ends_with_a_product_and_next_commands_that_exist():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\ndemo:"):makefile.index("\ntest:")]
    product = re.search(r"^DEMO_PRODUCT \?= (\S+)", makefile, re.M).group(1)
    limit = int(re.search(r"^DEMO_ARGS \?= --limit (\d+)", makefile, re.M).group(1))
    first = [json.loads(line)["id"] for line in (ROOT / "data/demo/catalog.jsonl").read_text().splitlines()[:limit]]
    assert "shelfgraph show $(DEMO_PRODUCT)" in recipe and product in first
    after = recipe[recipe.index("Next, try"):]
    commands = re.findall(r"shelfgraph (\w+)", after)
    assert len(commands) == 3
    for command in commands:
        assert runner.invoke(app, [command, "--help"]).exit_code == 0, command


def test_export_formats_are_the_exporters_dict(tmp_path, monkeypatch):
    """`export --format` offers exactly the names of `export.EXPORTERS`, and a format is one
    entry of that dict: the API writes with whatever function the entry names."""
    from shelfgraph import export
    from shelfgraph.api import Graph
    from shelfgraph.store import Ledger

    result = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200"})
    assert f"<{'|'.join(export.EXPORTERS)}>" in result.output
    store = tmp_path / "g.db"
    Ledger(store).close()
    written = []
    monkeypatch.setitem(export.EXPORTERS, "count",
                        lambda ledger, out, include_all: written.append((out, include_all)) or [out])
    with Graph(store, read_only=True) as graph:
        assert graph.export("count", tmp_path / "n.txt", all_statuses=True) == [tmp_path / "n.txt"]
        with pytest.raises(ValueError, match="valid: turtle, jsonld"):
            graph.export("rdf", tmp_path / "x")
    assert written == [(tmp_path / "n.txt", True)]
