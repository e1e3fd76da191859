"""The synonym baseline: edit, token and embedding similarities under logistic regression."""

from __future__ import annotations

import pytest

from shelfgraph.baselines.synonyms import FEATURES, pair_features
from shelfgraph.registry import create
from shelfgraph.steps import Pair

TRAIN = [
    Pair(a="72-GB", b="72GB", label=1), Pair(a="8 oz", b="8.0 oz", label=1),
    Pair(a="Dual Port", b="DP", label=1), Pair(a="Caf Bustelo", b="Café Bustelo", label=1),
    Pair(a="24", b='24"', label=1), Pair(a="652605-B21", b="652605B21", label=1),
    Pair(a="72GB", b="146GB", label=0), Pair(a="8 oz", b="12 oz", label=0),
    Pair(a="Dual Port", b="Quad Port", label=0), Pair(a="Folgers", b="Lavazza", label=0),
    Pair(a="24", b="36", label=0), Pair(a="652605-B21", b="435952-B21", label=0),
]


def test_features_are_bounded_and_see_numbers_and_acronyms() -> None:
    rows = pair_features([Pair(a="Dual Port", b="DP"), Pair(a="8 GB", b="16 GB")])
    assert rows.shape == (2, len(FEATURES)) and (rows >= -1).all() and (rows <= 1.0001).all()
    named = dict(zip(FEATURES, rows[0])), dict(zip(FEATURES, rows[1]))
    assert named[0]["acronym"] == 1.0 and named[1]["same_numbers"] == 0.0


def test_trained_baseline_ranks_synonyms_above_different_values() -> None:
    step = create("synonyms", "baseline")
    step.initialize(TRAIN)
    same, different = step.score([Pair(a="146-GB", b="146GB"), Pair(a="146GB", b="300GB")])
    assert 0.0 <= different < same <= 1.0


def test_untrained_baseline_still_ranks_and_one_class_training_is_refused() -> None:
    step = create("synonyms", "baseline")
    step.initialize([])
    same, different = step.score([Pair(a="Hewlett Packard", b="Hewlett-Packard"), Pair(a="Dell", b="Lenovo")])
    assert same > different
    with pytest.raises(ValueError, match="both labels"):
        step.initialize([p for p in TRAIN if p.label == 1])
