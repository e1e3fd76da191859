"""The CRF baseline's numpy inference gives crfsuite's own answers, and its pieces behave."""

from __future__ import annotations

import itertools

import numpy as np
import pycrfsuite

from shelfgraph.baselines.crf import bio_labels, decode, featurize, locate, tokenize
from shelfgraph.baselines.linear_chain import LinearChain


def _examples():
    brands, flavors = ["Folgers", "Lavazza", "Peet's", "Maxwell House"], ["Hazelnut", "French Roast", "Mocha"]
    for i, (brand, flavor) in enumerate(itertools.product(brands, flavors)):
        title = f"{brand} {flavor} Coffee, {10 + i} oz" if i % 2 else f"{flavor} Coffee by {brand} - {10 + i} oz"
        tokens = tokenize(title)
        spans = locate(title, tokens, {"Brand": [brand], "Flavor": [flavor], "Net content": [f"{10 + i} oz"]})
        yield featurize(tokens, "Coffee", "title", [[] for _ in tokens]), bio_labels(tokens, spans)


def test_linear_chain_matches_crfsuite(tmp_path):
    trainer = pycrfsuite.Trainer(verbose=False)
    trainer.set_params({"c1": 0.05, "c2": 0.01, "max_iterations": 50, "feature.possible_transitions": True})
    examples = list(_examples())
    for features, labels in examples:
        trainer.append(features, labels)
    trainer.train(str(tmp_path / "m.crfsuite"))
    tagger = pycrfsuite.Tagger()
    tagger.open(str(tmp_path / "m.crfsuite"))
    chain = LinearChain.from_crfsuite(tmp_path / "m.crfsuite")
    chain.save(tmp_path / "w.npz")
    chain = LinearChain.load(tmp_path / "w.npz")

    sequences = [f for f, _ in examples] + [featurize(tokenize("Unseen Brand Vanilla Coffee 3 oz"), "Coffee",
                                                      "title", [[] for _ in range(6)])]
    for features, (path, marginals, names) in zip(sequences, chain.tag(sequences, chain.labels, chunk=5)):
        assert [names[k] for k in path] == tagger.tag(features)
        expected = [[tagger.marginal(name, t) for name in names] for t in range(len(features))]
        np.testing.assert_allclose(marginals, expected, atol=1e-6)


def test_locate_prefers_longest_and_token_boundaries():
    title = "Peet's Coffee Major Dickason's Blend Dark Roast Ground Coffee, 10.5 oz"
    spans = locate(title, tokenize(title), {"Brand": ["Peet's"], "Flavor": ["Major Dickason's Blend"],
                                            "Roast type": ["Dark Roast"], "Net content": ["10.5 OZ"],
                                            "Size": ["Ground Cof"]})
    assert {a: [title[s:e] for s, e in v] for a, v in spans.items()} == {
        "Brand": ["Peet's"], "Flavor": ["Major Dickason's Blend"], "Roast type": ["Dark Roast"],
        "Net content": ["10.5 oz"]}  # found case-insensitively; "Ground Cof" ends mid-token


def test_decode_reads_bio_spans():
    tokens = tokenize("Acme Big Red Mug")
    assert [s[0] for s in decode(tokens, ["B-Brand", "B-Color", "I-Color", "I-Type"])] == ["Brand", "Color", "Type"]
