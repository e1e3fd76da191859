"""The cleaning baseline: trained on corrupted copies of trusted triples, it flags wrong values."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfgraph.eval.datasets import load_records, record_to_product
from shelfgraph.registry import create
from shelfgraph.steps import Triple


@pytest.fixture(scope="module")
def products():
    records = load_records(Path(__file__).resolve().parents[1] / "data" / "demo" / "labelled.jsonl")
    return [record_to_product(r) for r in records]


def test_wrong_values_score_higher_than_right_ones(products) -> None:
    train, test = products[:150], products[400:440]
    step = create("cleaning", "baseline")
    step.initialize(train)
    right, wrong = [], []
    for product in test:
        brand = product.attributes.get("Brand")
        if not brand:
            continue
        bare = product.model_copy(update={"attributes": {}})
        right.append(Triple(product=bare, attribute="Brand", value=brand[0]))
        # a span of another product's title that is not this product's brand
        wrong.append(Triple(product=bare, attribute="Brand", value="Pack of 12"))
    scores = step.score(right + wrong)
    assert all(0.0 <= s <= 1.0 for s in scores)
    right_scores, wrong_scores = scores[: len(right)], scores[len(right):]
    assert sum(wrong_scores) / len(wrong_scores) > sum(right_scores) / len(right_scores) + 0.2


def test_scoring_before_training_says_what_to_do(products) -> None:
    step = create("cleaning", "baseline")
    with pytest.raises(RuntimeError, match="initialize"):
        step.score([Triple(product=products[0], attribute="Brand", value="x")])
