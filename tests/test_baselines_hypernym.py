"""The hypernym baseline on the bundled Shopify subset: a new type goes under the right node."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfgraph.ingest import read_taxonomy
from shelfgraph.models import TaxonomyNode
from shelfgraph.registry import create


@pytest.fixture(scope="module")
def step():
    nodes = [n for n in read_taxonomy(Path(__file__).resolve().parents[1] / "data" / "demo" / "taxonomy")
             if isinstance(n, TaxonomyNode)]
    built = create("hypernym", "baseline")
    built.initialize(nodes)
    return built, {n.id: n for n in nodes}


def test_new_types_rank_their_hypernym_first(step) -> None:
    built, by_id = step
    ranked = built.rank(["Cold Brew Coffee", "Green Tea"], k=5)
    assert all(len(r) == 5 for r in ranked)
    names = [[by_id[s.label].name for s in r] for r in ranked]
    assert "Coffee" in names[0][:3]
    assert "Tea" in " ".join(names[1][:3])
    assert ranked[0][0].score >= ranked[0][-1].score


def test_ranking_before_initialising_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="initialize"):
        create("hypernym", "baseline").rank(["tea"])
