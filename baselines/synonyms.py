"""Synonym baseline: string and embedding similarities combined by logistic regression.

AutoKnow filters synonym candidates with a classifier over edit distance and embedding
features; this is that filter with rapidfuzz edit similarities, token overlap, agreement of
the numbers in both strings and MiniLM cosine. Untrained (no labelled pairs given), it
ranks by the mean of the similarities, which is still a usable score for AUPR.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from shelfgraph.models import normalise_label
from shelfgraph.stages.synonyms import SynonymStep
from shelfgraph.steps import NotEnoughData, Pair

FEATURES = ("ratio", "partial_ratio", "token_sort", "token_set", "jaro_winkler", "token_jaccard",
            "same_numbers", "acronym", "cosine")
_TOKEN = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(text.lower()))


def _numbers(text: str) -> set[float]:
    return {float(n) for n in _NUMBER.findall(text)}


def _acronym(short: str, long: str) -> bool:
    """"DP" ~ "Dual Port": the short string is the initials of the long one."""
    short = re.sub(r"[^a-z]", "", short.lower())
    initials = "".join(word[0] for word in re.findall(r"[a-z]+", long.lower()))
    return len(short) >= 2 and short == initials


def pair_features(pairs: Sequence[Pair]) -> np.ndarray:
    """One row of FEATURES per pair, each in [0, 1]."""
    from rapidfuzz import fuzz
    from rapidfuzz.distance import JaroWinkler

    from shelfgraph.retrieval.embeddings import embed

    a_texts = [normalise_label(p.a) for p in pairs]
    b_texts = [normalise_label(p.b) for p in pairs]
    unique = sorted(set(a_texts) | set(b_texts))
    vectors = dict(zip(unique, embed(unique)))
    rows = []
    for a, b in zip(a_texts, b_texts):
        ta, tb = _tokens(a), _tokens(b)
        na, nb = _numbers(a), _numbers(b)
        rows.append([
            fuzz.ratio(a, b) / 100,
            fuzz.partial_ratio(a, b) / 100,
            fuzz.token_sort_ratio(a, b) / 100,
            fuzz.token_set_ratio(a, b) / 100,
            JaroWinkler.normalized_similarity(a, b),
            len(ta & tb) / len(ta | tb) if ta | tb else 0.0,
            float(na == nb) if na or nb else 0.5,
            float(_acronym(a, b) or _acronym(b, a)),
            float(vectors[a] @ vectors[b]),
        ])
    return np.asarray(rows, dtype=np.float64).reshape(len(pairs), len(FEATURES))


class LogisticSynonyms(SynonymStep):
    def __init__(self, C: float = 1.0):
        self.C = C
        self.model: Any = None

    def initialize(self, train: Sequence[Pair]) -> None:
        labelled = [p for p in train if p.label is not None]
        if not labelled:
            self.model = None
            return
        labels = [p.label for p in labelled]
        if len(set(labels)) < 2:
            raise NotEnoughData(f"synonym training pairs need both labels (1 = same meaning, 0 = not): "
                                f"the {len(labels)} given are all {labels[0]}")
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(C=self.C, max_iter=1000, class_weight="balanced")
        self.model.fit(pair_features(labelled), labels)

    def score(self, pairs: Sequence[Pair]) -> list[float | None]:
        if not pairs:
            return []
        features = pair_features(pairs)
        if self.model is None:
            return [float(x) for x in features.mean(axis=1)]
        return [float(x) for x in self.model.predict_proba(features)[:, 1]]


def _factory(context: Any = None, C: float = 1.0) -> LogisticSynonyms:
    return LogisticSynonyms(C=C)


def register_steps(register) -> None:
    register("synonyms", "baseline", _factory, default_config={"C": 1.0},
             description="rapidfuzz edit similarities, token overlap and MiniLM cosine, "
                         "combined by logistic regression trained on labelled pairs")
