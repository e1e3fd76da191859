"""Cleaning baseline: logistic regression over "does this value fit here" features.

Trained the way AutoKnow trains its cleaner: trusted (product, attribute, value) triples are
the clean class, and corrupted copies of them (`shelfgraph.corruption`) the wrong class. Features
compare the value with the product's own text and with the values the attribute is known to
take for the product's type. Those known values come from the other folds of the training
products while training (cross-fitting), so a value never vouches for itself.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from typing import Any, NamedTuple, Sequence

import numpy as np

from shelfgraph.corruption import corrupt, gold_triples
from shelfgraph.models import Product, normalise_label
from shelfgraph.stages.cleaning import CleaningStep
from shelfgraph.steps import NotEnoughData, Triple

FEATURES = ("in_title", "in_description", "partial_ratio", "known_exact", "known_log_count",
            "char_sim_known", "embed_sim_known", "embed_sim_other", "known_other_exact",
            "digit_agreement", "log_tokens", "attribute_unknown")


class KnownValues:
    """Counts of the values each (type, attribute) takes in trusted products."""

    def __init__(self, products: Sequence[Product]):
        self.counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for product in products:
            for attribute, values in product.attributes.items():
                for value in values:
                    self.counts[(_type(product), attribute)][normalise_label(value)] += 1
        # (type, attribute, value) -> the features that do not read the product's text: a
        # catalogue repeats its values, and these cost milliseconds a triple
        self.compared: dict[tuple[str, str, str], list[float]] = {}
        # (type, attribute) -> what its values are compared with, gathered once (few pairs)
        self.neighbours: dict[tuple[str, str], _Neighbours] = {}

    def values(self, type_name: str, attribute: str) -> Counter[str]:
        return self.counts.get((type_name, attribute), Counter())

    def others(self, type_name: str, attribute: str) -> set[str]:
        return {v for (t, a), c in self.counts.items() if t == type_name and a != attribute for v in c}

    def all_values(self) -> set[str]:
        return {v for counts in self.counts.values() for v in counts}


def _type(product: Product) -> str:
    return normalise_label(product.product_type or "")


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


class _Similarity:
    """Character n-gram TF-IDF vectors of short strings and their MiniLM vectors from `embed`
    (which encodes a text once per process, for every step). The training texts' n-gram rows
    are kept; a batch's new values get theirs for that batch only (`prepare`): a matrix grown
    by every batch was copied whole at each one, quadratic over a catalogue, and a value's row
    is the same whichever batch computes it."""

    def __init__(self, texts: set[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        from shelfgraph.retrieval.embeddings import embed

        known = sorted(texts)
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(known or ["x"])
        self.index = {t: i for i, t in enumerate(known)}
        self.char_vectors = self.chars.transform(known)
        self.extra: tuple[dict[str, int], Any] = ({}, None)  # the current batch's other values
        embed(known)

    def prepare(self, values: set[str]) -> None:
        """N-gram rows for the values the training texts lack, kept until the next call; their
        MiniLM vectors are asked for here in one call, as the encoder is fastest on many texts."""
        from shelfgraph.retrieval.embeddings import embed

        new = sorted(v for v in values if v not in self.index)
        self.extra = ({v: i for i, v in enumerate(new)}, self.chars.transform(new) if new else None)
        embed(new)

    def rows(self, texts: Sequence[str]) -> _Rows:
        """The vectors of `texts` (training texts), gathered into matrices once for many
        look-ups: picking rows out of the sparse matrix is what used to cost milliseconds a value."""
        from shelfgraph.retrieval.embeddings import embed

        index = [self.index[t] for t in texts]
        return _Rows({t: i for i, t in enumerate(texts)}, self.char_vectors[index], embed(texts))

    def max_char(self, value: str, rows: _Rows) -> float:
        """The value's n-gram row is read from the matrix's arrays into a dense vector: a
        sparse-by-sparse product costs ~1 ms of scipy overhead per value, this a few µs."""
        matrix, i = self.char_vectors, self.index.get(value)
        if i is None:
            index, matrix = self.extra
            i = index[value]
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        dense = np.zeros(matrix.shape[1])
        dense[matrix.indices[start:end]] = matrix.data[start:end]
        return _max_but(value, rows, rows.chars @ dense)

    @staticmethod
    def max_embed(value: str, vector: np.ndarray, rows: _Rows) -> float:
        return _max_but(value, rows, rows.vectors @ vector)


class _Rows(NamedTuple):
    position: dict[str, int]  # text -> its row
    chars: Any  # sparse character n-gram rows
    vectors: np.ndarray  # MiniLM rows


def _max_but(value: str, rows: _Rows, similarities: np.ndarray) -> float:
    """The highest similarity to a text other than `value` itself; 0 when there is none."""
    own = rows.position.get(value)
    if own is not None:
        similarities = np.delete(similarities, own)
    return float(similarities.max()) if len(similarities) else 0.0


class _Neighbours:
    """What a value of one (type, attribute) is compared with: the attribute's known values
    and the values of the type's other attributes, with their vectors."""

    def __init__(self, stats: KnownValues, type_name: str, attribute: str, sim: _Similarity):
        self.counts = stats.values(type_name, attribute)
        self.other_values = stats.others(type_name, attribute)
        self.same, self.other = sim.rows(list(self.counts)), sim.rows(sorted(self.other_values))
        self.digit_share = (sum(_has_digit(v) * c for v, c in self.counts.items()) / sum(self.counts.values())
                            if self.counts else 0.5)


def triple_features(triples: Sequence[Triple], known: Sequence[KnownValues], sim: _Similarity) -> np.ndarray:
    """One row of FEATURES per triple; `known[i]` is what triple i is compared with."""
    from rapidfuzz import fuzz

    for stats in {id(stats): stats for stats in known}.values():
        if len(stats.compared) >= 100_000:  # bounded: a long tail of values comes once each
            stats.compared.clear()
    keys = [(_type(triple.product), triple.attribute, normalise_label(triple.value)) for triple in triples]
    sim.prepare({key[2] for key, stats in zip(keys, known) if key not in stats.compared})
    rows = []
    for triple, stats, key in zip(triples, known, keys):
        value = key[2]
        title = normalise_label(triple.product.title)
        description = normalise_label(triple.product.description)
        if key not in stats.compared:
            stats.compared[key] = _value_features(stats, *key, sim)
        rows.append([
            float(value in title),
            float(bool(description) and value in description),
            fuzz.partial_ratio(value, f"{title} {description}") / 100,
            *stats.compared[key],
        ])
    return np.asarray(rows, dtype=np.float64).reshape(len(triples), len(FEATURES))


def _value_features(stats: KnownValues, type_name: str, attribute: str, value: str, sim: _Similarity) -> list[float]:
    """The features of a value against the values known for its type and attribute."""
    from shelfgraph.retrieval.embeddings import embed

    near = stats.neighbours.get((type_name, attribute))
    if near is None:
        near = stats.neighbours[(type_name, attribute)] = _Neighbours(stats, type_name, attribute, sim)
    counts, vector = near.counts, embed([value])[0]
    return [
        float(counts[value] > 0),
        math.log1p(counts[value]),
        sim.max_char(value, near.same),
        sim.max_embed(value, vector, near.same),
        sim.max_embed(value, vector, near.other),
        float(value in near.other_values),
        1.0 - abs(float(_has_digit(value)) - near.digit_share),
        math.log1p(len(value.split())),
        float(not counts),
    ]


class LogisticCleaner(CleaningStep):
    batch_size = 500  # the batch's new values go to the encoder in one call

    def __init__(self, corrupt_rate: float = 0.5, folds: int = 4, seed: int = 0, C: float = 1.0):
        self.corrupt_rate, self.folds, self.seed, self.C = corrupt_rate, folds, seed, C
        self.known: KnownValues | None = None
        self.similarity: _Similarity | None = None
        self.model: Any = None

    def initialize(self, train: Sequence[Product]) -> None:
        from sklearn.linear_model import LogisticRegression

        products = list(train)
        if len(products) < self.folds:
            raise NotEnoughData(f"the cleaning baseline needs at least {self.folds} training products, "
                                f"got {len(products)}")
        random.Random(self.seed).shuffle(products)
        fold_of = {p.id: i % self.folds for i, p in enumerate(products)}
        fold_known = [KnownValues([p for p in products if fold_of[p.id] != f]) for f in range(self.folds)]
        labelled = corrupt(gold_triples(products), rate=self.corrupt_rate, seed=self.seed)
        if len({item.corrupted for item in labelled}) < 2:
            raise NotEnoughData(f"{len(labelled)} training triples, {sum(i.corrupted for i in labelled)} of them "
                                "corrupted: the cleaner needs both right and corrupted values")
        self.known = KnownValues(products)
        triples = [item.triple for item in labelled]
        self.similarity = _Similarity(self.known.all_values() | {normalise_label(t.value) for t in triples})
        features = triple_features(triples, [fold_known[fold_of[t.product.id]] for t in triples], self.similarity)
        self.model = LogisticRegression(C=self.C, max_iter=2000)
        self.model.fit(features, [int(item.corrupted) for item in labelled])

    def score(self, triples: Sequence[Triple]) -> list[float | None]:
        if self.model is None or self.known is None or self.similarity is None:
            raise RuntimeError("the cleaning baseline is not trained: call initialize(train products) first")
        if not triples:
            return []
        features = triple_features(triples, [self.known] * len(triples), self.similarity)
        return [float(p) for p in self.model.predict_proba(features)[:, 1]]


def _factory(context: Any = None, **config: Any) -> LogisticCleaner:
    return LogisticCleaner(**config)


def register_steps(register) -> None:
    register("cleaning", "baseline", _factory,
             default_config={"corrupt_rate": 0.5, "folds": 4, "seed": 0, "C": 1.0},
             description="logistic regression on text-occurrence, n-gram and embedding similarity "
                         "to known values, trained on corrupted copies of trusted triples")
