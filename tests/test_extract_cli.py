"""`shelfgraph extract`: values with spans in the titles, one row per product and attribute, in
JSONL, CSV or Parquet; bad rows rejected with file:line (exit 3); an LLM run started again
answers from the call cache."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.extraction import ExtractedValue, write_values

runner = CliRunner()


@pytest.fixture
def batch(tmp_path, demo_data) -> tuple[Path, Path]:
    """10 catalogue products plus two bad rows (lines 11 and 12), and every 8th labelled example."""
    catalog = tmp_path / "catalog.jsonl"
    lines = (demo_data / "catalog.jsonl").read_text().splitlines(True)[:10]
    catalog.write_text("".join(lines) + '{"id": "no-title", "title": ""}\n{not json\n')
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join((demo_data / "labelled.jsonl").read_text().splitlines(True)[::8]))
    return catalog, labelled


def _titles(catalog: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in catalog.read_text().splitlines() if line.startswith('{"id": "demo')]
    return {row["id"]: row["title"] for row in rows}


def test_extract_writes_grounded_values_and_rejects_bad_rows_with_file_and_line(tmp_path, batch):
    catalog, labelled = batch
    out = tmp_path / "values.jsonl"
    result = runner.invoke(app, ["extract", str(catalog), "--labelled", str(labelled), "--out", str(out), "--json"])
    assert result.exit_code == 3, result.output
    assert f"{catalog}:11: missing title" in result.stderr and f"{catalog}:12: bad JSON" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["products"] == 10 and summary["values"] == len(rows) > 10 and summary["rejected_rows"] == 2
    titles = _titles(catalog)
    assert {r["product_id"] for r in rows} <= set(titles) and len({r["product_id"] for r in rows}) >= 8
    for row in rows:
        ExtractedValue.model_validate(row)
        assert row["field"] == "title" and titles[row["product_id"]][row["start"]:row["end"]] == row["value"]
        assert row["method"] == "baseline" and 0 <= row["confidence"] <= 1
    pairs = [(r["product_id"], r["attribute"]) for r in rows]
    assert len(pairs) == len(set(pairs))  # one row per product and attribute
    rejected = [json.loads(line) for line in (tmp_path / "values.jsonl.rejected.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejected] == [11, 12]

    again = runner.invoke(app, ["extract", str(catalog), "--labelled", str(labelled), "--out", str(out),
                                "--attributes", "Brand", "-q"])
    assert again.exit_code == 3
    brands = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["attribute"] for r in brands} == {"Brand"} and len(brands) >= 8
    assert len((tmp_path / "values.jsonl.rejected.jsonl").read_text().splitlines()) == 2  # this run's, not appended


def test_values_write_as_csv_and_parquet_and_read_back_the_same(tmp_path):
    values = [ExtractedValue(product_id="p1", attribute="Brand", value="Aveda, Inc", field="title", start=0, end=10,
                             confidence=0.93, method="agent", model="gemma", prompt="imputation@v2#abc"),
              ExtractedValue(product_id="p2", attribute="Size", value="6.7 Ounce", field="description", start=4,
                             end=13, confidence=None, method="baseline")]
    write_values(values, tmp_path / "v.parquet")
    assert [ExtractedValue.model_validate(r) for r in pq.read_table(tmp_path / "v.parquet").to_pylist()] == values
    write_values(values, tmp_path / "v.csv")
    with open(tmp_path / "v.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["value"], r["start"], r["model"]) for r in rows] == [("Aveda, Inc", "0", "gemma"), ("6.7 Ounce", "4", "")]
    assert not list(tmp_path.glob("*.partial"))


def test_an_unknown_output_suffix_or_method_is_a_usage_error(tmp_path, batch):
    catalog, labelled = batch
    result = runner.invoke(app, ["extract", str(catalog), "--labelled", str(labelled), "--out", str(tmp_path / "v.xlsx")])
    assert result.exit_code == 2 and "use one of .jsonl, .csv, .parquet" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, before any work
    result = runner.invoke(app, ["extract", str(catalog), "--out", str(tmp_path / "v.csv"), "--method", "magic"])
    assert result.exit_code == 2 and "valid: agent, baseline, hybrid" in " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())


def test_an_agent_run_started_again_answers_from_the_call_cache(tmp_path, batch, packaged_gguf):
    catalog, labelled = batch
    two = tmp_path / "two.jsonl"
    two.write_text("".join(catalog.read_text().splitlines(True)[:2]))
    args = ["extract", str(two), "--labelled", str(labelled), "--method", "agent", "--set", "k=0",
            "--attributes", "Brand", "--model", str(packaged_gguf), "--json", "-q"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a.jsonl")])
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b.jsonl")])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    one, two_ = (json.loads(r.stdout.strip().splitlines()[-1])["llm"] for r in (first, second))
    assert one["calls"] >= 2 and one["cache_hits"] == 0
    assert two_ == {"calls": one["calls"], "cache_hits": one["calls"]}
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert rows and all(r["model"] and r["prompt"].startswith("imputation@") for r in rows)
