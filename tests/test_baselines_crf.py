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


def test_a_batch_is_tagged_as_each_product_alone():
    """The build hands the CRF hundreds of products at a time (its `batch_size`): each gets
    the spans and confidences it gets tagged alone (real labelled products, real training)."""
    from pathlib import Path

    from shelfgraph.eval.datasets import load_records, record_to_product
    from shelfgraph.registry import create

    records = load_records(Path(__file__).resolve().parents[1] / "data" / "demo" / "labelled.jsonl")
    products = [record_to_product(r) for r in records]
    step = create("imputation", "baseline", max_iterations=30)
    assert step.batch_size >= 500
    step.initialize(products[:200])
    test = [p.model_copy(update={"attributes": {}}) for p in products[400:560]]
    wanted = [sorted(p.attributes) for p in products[400:560]]
    together = step.predict(test, wanted)
    alone = [step.predict([p], [w])[0] for p, w in zip(test, wanted)]
    assert sum(map(len, together)) > 200

    def spans(found):
        return [[(e.attribute, e.field, e.start, e.end, e.value) for e in product] for product in found]

    assert spans(together) == spans(alone)
    np.testing.assert_allclose([e.confidence for p in together for e in p], [e.confidence for p in alone for e in p],
                               rtol=1e-9)
