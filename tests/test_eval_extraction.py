"""The extraction eval end to end: the CRF baseline trained, saved and reloaded, and the CLI
printing its metrics as JSON on the last line with OUT.jsonl holding only known attributes."""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

from shelfgraph.eval.datasets import known_attributes, parse_oa_mine, record_to_product
from shelfgraph.eval.extraction import StepConfigError, evaluate_extraction
from shelfgraph.eval.runs import load_run
from shelfgraph import registry
from shelfgraph.cli import app

BRANDS = ["Folgers", "Lavazza", "Peet's", "Starbucks", "Illy", "Maxwell House"]
FLAVORS = ["Hazelnut", "Vanilla", "French Roast", "Mocha", "Caramel"]
TEAS = ["Twinings", "Lipton", "Bigelow", "Tazo"]
VARIETIES = ["Green Tea", "Earl Grey", "Chamomile", "Black Tea"]


def _coffee(brand, flavor, ounces, roast=None):
    title = f"{brand} {flavor} Ground Coffee, {ounces} oz"
    gold = {"Brand": {brand: 1}, "Flavor": {flavor: 1}, "Net content": {f"{ounces} oz": 1}}
    if roast:
        gold["Roast type"] = {roast: 1}
    return {"input": title, "category": "Coffee", "target_scores": gold}


def _tea(brand, variety, count):
    return {"input": f"{brand} {variety} Tea Bags, {count} Count", "category": "Tea",
            "target_scores": {"Brand": {brand: 1}, "Tea variety": {variety: 1}, "Pack size": {f"{count} Count": 1}}}


def _rows():
    coffee = [_coffee(b, f, 10 + 2 * i) for i, (b, f) in enumerate(itertools.product(BRANDS, FLAVORS))]
    tea = [_tea(b, v, 20 + 4 * i) for i, (b, v) in enumerate(itertools.product(TEAS, VARIETIES))]
    return coffee + tea


@pytest.fixture()
def data(tmp_path):
    rows = _rows()
    train, test = rows[::2] + rows[1::4], rows[3::4]
    test = test + [_coffee("Folgers", "Mocha", 33, roast="Dark"),
                   {"input": "Nike Air Max Running Shoe", "category": "Shoes", "target_scores": {"Brand": {"Nike": 1}}}]
    paths = {}
    for name, part in (("train", train), ("test", test)):
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in part))
    return paths


def test_crf_learns_and_reloads_identically(data, tmp_path):
    train = parse_oa_mine(data["train"].read_text().splitlines(), "train")
    test = parse_oa_mine(data["test"].read_text().splitlines(), "test")
    known = known_attributes(train)
    step = registry.create("imputation", "baseline")
    step.initialize([record_to_product(r) for r in train])
    products = [record_to_product(r) for r in test]
    wanted = [known.get(r.category, []) for r in test]
    predicted = step.predict(products, wanted)

    for product, extractions in zip(products, predicted):
        for e in extractions:  # grounded: the value is exactly its span of the title
            assert product.field_text(e.field)[e.start:e.end] == e.value and 0 < e.confidence <= 1
    brands = [{e.attribute: e.value for e in ex}.get("Brand") for ex in predicted]
    assert sum(b == r.gold["Brand"][0] for b, r in zip(brands, test)) >= len(test) - 2

    step.to_disk(tmp_path / "crf")
    again = registry.create("imputation", "baseline").from_disk(tmp_path / "crf")
    assert again.predict(products, wanted) == predicted


def test_cli_prints_metrics_last_and_writes_known_attributes_only(data, tmp_path):
    out = tmp_path / "out.jsonl"
    common = ["eval", "extraction", "--train", str(data["train"]), "--test", str(data["test"]),
              "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    result = CliRunner().invoke(app, [*common, "--method", "baseline", "--predictions", str(out),
                                      "--save-model", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    reloaded = CliRunner().invoke(app, [*common, "--load-model", str(tmp_path / "model")])
    assert json.loads(reloaded.stdout.splitlines()[-1])["f1"] == metrics["f1"]
    assert metrics["f1"] > 80 and {"precision", "recall", "VC", "run"} <= metrics.keys()

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    test = [json.loads(line) for line in data["test"].read_text().splitlines()]
    assert len(lines) == len(test)
    for row, pred in zip(test, lines):
        expected = {"Coffee": {"Brand", "Flavor", "Net content"}, "Tea": {"Brand", "Tea variety", "Pack size"},
                    "Shoes": set()}[row["category"]]
        assert set(pred) == expected  # every known attribute, "n/a" when absent; Roast type never
    run = load_run(metrics["run"], tmp_path / "runs")
    assert run.metrics["f1"] == metrics["f1"] and [r["pred"] for r in run.predictions] == lines


def test_compare_and_report_commands(data, tmp_path):
    runner, runs = CliRunner(), str(tmp_path / "runs")
    common = ["eval", "extraction", "--train", str(data["train"]), "--runs-dir", runs, "--no-progress"]
    first = runner.invoke(app, [*common, "--test", str(data["test"])])
    second = runner.invoke(app, [*common, "--test", str(data["train"]), "--limit", "5"])
    assert first.exit_code == second.exit_code == 0
    a, b = (json.loads(r.stdout.splitlines()[-1])["run"] for r in (first, second))
    compared = runner.invoke(app, ["eval", "compare", a, b, "--runs-dir", runs, "--json"])
    assert compared.exit_code == 0, compared.output
    assert "f1" in json.loads(compared.stdout)["metrics"]
    reported = runner.invoke(app, ["eval", "report", a, "--runs-dir", runs, "--out", str(tmp_path / "r.md")])
    assert reported.exit_code == 0, reported.output
    text = (tmp_path / "r.md").read_text()
    assert "| Coffee | Brand |" in text and (tmp_path / "r_files" / "attribute_f1.png").is_file()


def test_unknown_method_and_bad_config_are_clear(data):
    train = parse_oa_mine(data["train"].read_text().splitlines(), "train")
    with pytest.raises(StepConfigError, match="valid: .*baseline"):
        evaluate_extraction(train, train, "no-such-method", progress=False)
    with pytest.raises(StepConfigError, match="prompt"):
        evaluate_extraction(train, train, "baseline", progress=False, step_config={"prompt": "x@1"})
