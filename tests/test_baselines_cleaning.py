"""The cleaning baseline: trained on corrupted copies of trusted triples, it flags wrong values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_value_features_match_each_known_value_compared_alone(products) -> None:
    """The features read from the gathered rows of a (type, attribute) are those of comparing
    the value with each other known value one by one (the value itself left out)."""
    from shelfgraph.baselines.cleaning import FEATURES, triple_features
    from shelfgraph.models import normalise_label
    from shelfgraph.retrieval.embeddings import embed

    step = create("cleaning", "baseline")
    step.initialize(products[::4])
    known, sim = step.known, step.similarity
    triples = [Triple(product=p, attribute=a, value=v) for p in products[1:160:4] for a, vs in p.attributes.items()
               for v in vs] + [Triple(product=products[0], attribute="Brand", value="Pack of 12")]
    features = triple_features(triples, [known] * len(triples), sim)

    def best(value: str, others: set[str]) -> tuple[float, float]:
        alone = sim.chars.transform([value])  # the value's n-gram row computed on its own
        chars = [(sim.char_vectors[sim.index[o]] @ alone.T).toarray()[0, 0] for o in others - {value}]
        vectors = [float(embed([o])[0] @ embed([value])[0]) for o in others - {value}]
        return max(chars, default=0.0), max(vectors, default=0.0)

    columns = {name: i for i, name in enumerate(FEATURES)}
    for triple, row in zip(triples, features):
        type_name, value = normalise_label(triple.product.product_type or ""), normalise_label(triple.value)
        same = set(known.values(type_name, triple.attribute))
        char_same, embed_same = best(value, same)
        _, embed_other = best(value, known.others(type_name, triple.attribute))
        np.testing.assert_allclose([row[columns["char_sim_known"]], row[columns["embed_sim_known"]],
                                    row[columns["embed_sim_other"]]], [char_same, embed_same, embed_other],
                                   atol=1e-6)
    assert features[:, columns["char_sim_known"]].max() > 0.5  # real comparisons, not all zero


def test_scores_do_not_depend_on_the_batches_and_the_vectors_kept_do_not_grow(products) -> None:
    """A value's comparison rows are made for the batch that needs them and dropped after:
    scoring in two batches (the second repeating values of the first and bringing new ones)
    gives the scores of one batch, and the n-gram rows kept stay those of the training texts."""
    step = create("cleaning", "baseline")
    step.initialize(products[::4])
    kept = step.similarity.char_vectors.shape
    triples = [Triple(product=p, attribute=a, value=v) for p in products[1:200:3] for a, vs in p.attributes.items()
               for v in vs] + [Triple(product=products[1], attribute="Brand", value="Pack of 12")]
    alone = create("cleaning", "baseline")
    alone.initialize(products[::4])
    half = len(triples) // 2
    split = step.score(triples[:half] + triples[-1:]) + step.score(triples[half:])
    np.testing.assert_allclose(split[:half] + split[half + 1:], alone.score(triples), atol=1e-6)
    assert step.similarity.char_vectors.shape == kept
    assert len(step.similarity.extra[0]) > 0  # the last batch had values the training texts lack
