"""The scorers on hand-checked cases, and the published GPT-4 extraction run reproduced."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from shelfgraph.eval.metrics import (
    aupr, extraction_outcomes, extraction_score, f1_at_threshold, plot_pr_curves, pr_curve, prf,
)


def test_extraction_outcomes_cover_every_case():
    gold = {"Brand": ["Acme"], "Color": None, "Size": ["10 oz", "10oz"], "Flavor": ["Mint"], "Scent": None}
    pred = {"Brand": " Acme ", "Color": "red", "Size": "10oz", "Flavor": "n/a", "Scent": "None",
            "Material": "steel"}
    known = ["Brand", "Color", "Size", "Flavor", "Scent", "Material"]
    assert extraction_outcomes(gold, pred, known) == {
        "Brand": "VC", "Color": "NV", "Size": "VC", "Flavor": "VN", "Scent": "NN"}  # Material: not in gold


def test_extraction_score_counts_and_percentages():
    golds = [{"Brand": ["Acme"], "Color": ["red"]}, {"Brand": ["Zed"], "Color": None}]
    preds = [{"Brand": "Acme", "Color": "blue"}, {"Brand": "", "Color": "green"}]
    score = extraction_score(golds, preds, [["Brand", "Color"]] * 2)
    # VC=1, VW=1, VN=1, NV=1: P = 1/3, R = 1/3
    assert score == {"precision": 33.33, "recall": 33.33, "f1": 33.33, "NN": 0, "NV": 1, "VN": 1, "VC": 1, "VW": 1}


def test_unknown_attributes_are_not_scored():
    score = extraction_score([{"Brand": ["Acme"], "Odd": ["x"]}], [{"Brand": "Acme", "Odd": "y"}], [["Brand"]])
    assert (score["VC"], score["VW"], score["precision"]) == (1, 0, 100.0)


def test_gpt4_run_reproduces_published_scores(shared_data):
    path = shared_data / "extractgpt-runs" / "oa-mine_gpt-4-0613_10shot_ensembling.json.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    run = json.loads(gzip.decompress(path.read_bytes()))
    golds = [{a: [v for v in values if v != "n/a"] or None for a, values in ex["target_scores"].items()}
             for ex in run["examples"]]
    preds = [json.loads(ex["pred"]) for ex in run["examples"]]
    known = [run["known_attributes"][ex["category"]] for ex in run["examples"]]
    score = extraction_score(golds, preds, known)
    published = run["results"]["micro"]
    assert (score["precision"], score["recall"], score["f1"]) == (
        published["micro_precision"], published["micro_recall"], published["micro_f1"]) == (83.99, 80.05, 81.97)


def test_prf_and_threshold_decisions():
    assert prf(2, 1, 2) == {"precision": 2 / 3, "recall": 0.5, "f1": pytest.approx(4 / 7), "tp": 2, "fp": 1, "fn": 2}
    assert prf(0, 0, 0)["f1"] == 0.0
    result = f1_at_threshold([1, 0, 1, 0, 1], [0.9, 0.6, 0.4, None, None], threshold=0.5)
    assert (result["tp"], result["fp"], result["fn"], result["accuracy"]) == (1, 1, 2, 0.4)


def test_pr_curve_ties_and_none_rank_lowest():
    precision, recall, thresholds = pr_curve([1, 0, 1, 1, 0], [0.9, 0.8, 0.8, None, 0.1])
    assert thresholds == [0.9, 0.8, 0.1, -math.inf]
    assert precision == [1.0, 2 / 3, 2 / 4, 3 / 5]
    assert recall == [1 / 3, 2 / 3, 2 / 3, 1.0]


def test_aupr_is_average_precision():
    assert aupr([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    # ranks: 1 (P=1), 0, 1 (P=2/3): AP = 0.5 * 1 + 0.5 * 2/3
    assert aupr([1, 0, 1], [0.9, 0.5, 0.1]) == pytest.approx(0.5 + 1 / 3)
    assert aupr([0, 0], [0.3, 0.2]) == 0.0


def test_plot_pr_curves_writes_a_png(tmp_path):
    path = plot_pr_curves({"a": ([1, 0, 1], [0.9, 0.5, 0.1]), "b": ([1, 0], [None, 0.2])}, tmp_path / "pr.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_value_means_the_same_everywhere(tmp_path):
    """One definition of "no value" (models.NO_VALUES): what ingest drops is what scoring
    counts as predicting nothing and what corruption and relations skip."""
    from shelfgraph.baselines.relations import attribute_values
    from shelfgraph.corruption import gold_triples
    from shelfgraph.ingest import detect_format, read_products
    from shelfgraph.models import Product, is_no_value

    spellings = ["", "  ", "n/a", "N/A", "None", "null", " NULL "]
    assert all(is_no_value(s) for s in spellings) and is_no_value(None)
    assert not any(is_no_value(s) for s in ("na", "0", "nonfat", "null island"))
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(json.dumps({"id": "p", "title": "Tea", "product_type": "null",
                                   "attributes": {"Brand": spellings + ["Acme"]}}) + "\n")
    [product] = read_products(catalog, detect_format(catalog))
    assert product.product_type is None and product.attributes == {"Brand": ["Acme"]}
    assert extraction_outcomes({"Brand": None}, {"Brand": "null"}, ["Brand"]) == {"Brand": "NN"}
    raw = Product(id="p", title="Tea", attributes={"Brand": ["null", "N/A", "Acme"]})
    assert [t.value for t in gold_triples([raw])] == ["Acme"]
    assert attribute_values([raw]) == {"Brand": {"acme"}}
