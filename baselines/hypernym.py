"""Hypernym baseline: embedding similarity to nodes, their paths and children, plus head words.

A new type ("cold brew coffee") usually belongs under the node its head word names
("coffee"), or under the node whose children it resembles most (its would-be siblings).
Each candidate node gets features: MiniLM cosine of the name to the node's name, to its
path (the mean of its names' vectors), the best cosine to one of its children, head-word matches and how many children it
has. A logistic regression weighs them, fitted on the taxonomy itself: leaves that are
already placed are asked for again, each hidden from its own parent.
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

import numpy as np

from shelfgraph.models import TaxonomyNode, path_names
from shelfgraph.stages.hypernym import HypernymStep
from shelfgraph.steps import NotEnoughData, Scored
from shelfgraph.typenames import head_word, words

FEATURES = ("cos_name", "cos_path", "cos_child", "head_equal", "head_in_name", "head_in_path", "log_children")
DEFAULT_WEIGHTS = np.array([1.0, 1.0, 2.0, 1.0, 0.5, 0.25, 0.1])


class EmbeddingHypernym(HypernymStep):
    def __init__(self, fit_queries: int = 300, seed: int = 0):
        self.fit_queries, self.seed = fit_queries, seed
        self.nodes: list[TaxonomyNode] = []
        self.weights = DEFAULT_WEIGHTS.copy()
        self.bias = 0.0

    def initialize(self, taxonomy: Sequence[TaxonomyNode]) -> None:
        from shelfgraph.retrieval.embeddings import embed

        self.nodes = list(taxonomy)
        if not self.nodes:
            raise NotEnoughData("the hypernym baseline needs a non-empty taxonomy (--taxonomy)")
        index = {node.id: i for i, node in enumerate(self.nodes)}
        self.parent_index = np.array([index.get(n.parent, -1) if n.parent else -1 for n in self.nodes])
        self.children = np.bincount(self.parent_index[self.parent_index >= 0], minlength=len(self.nodes))
        names = sorted({n.name for n in self.nodes})
        vectors = dict(zip(names, embed(names)))
        self.name_vectors = np.stack([vectors[n.name] for n in self.nodes])
        by_id = {node.id: node for node in self.nodes}
        paths = [path_names(node, by_id) for node in self.nodes]
        # a path is the mean of its names' vectors: one embedding per distinct name keeps
        # a 10k-node taxonomy to one pass of the encoder
        path_vectors = np.stack([np.mean([vectors[name] for name in path], axis=0) for path in paths])
        self.path_vectors = path_vectors / np.linalg.norm(path_vectors, axis=1, keepdims=True)
        self.head_of = [head_word(n.name) for n in self.nodes]
        self.name_words = [set(words(n.name)) for n in self.nodes]
        self.path_words = [set(words(" ".join(p))) for p in paths]
        self._fit()

    def _features(self, name: str, vector: np.ndarray, hide: int | None = None) -> np.ndarray:
        """FEATURES of every node as the parent of `name`; node `hide` plays no part."""
        cos_name = self.name_vectors @ vector
        cos_path = self.path_vectors @ vector
        child_sims = cos_name.copy()
        has_parent = self.parent_index >= 0
        if hide is not None:
            child_sims[hide] = -1.0
            has_parent = has_parent.copy()
            has_parent[hide] = False
        cos_child = np.zeros(len(self.nodes))
        np.maximum.at(cos_child, self.parent_index[has_parent], child_sims[has_parent])
        head = head_word(name)
        head_equal = np.array([head is not None and h == head for h in self.head_of], dtype=float)
        head_in_name = np.array([head in w for w in self.name_words], dtype=float)
        head_in_path = np.array([head in w for w in self.path_words], dtype=float)
        children = self.children - (np.bincount([self.parent_index[hide]], minlength=len(self.nodes))
                                    if hide is not None and self.parent_index[hide] >= 0 else 0)
        features = np.column_stack([cos_name, cos_path, cos_child, head_equal, head_in_name,
                                    head_in_path, np.log1p(children)])
        if hide is not None:
            features[hide] = -10.0  # a node is never its own parent
        return features

    def _fit(self) -> None:
        """Weigh the features on placed leaves: each is hidden and its parent must be found."""
        leaves = [i for i in range(len(self.nodes)) if self.children[i] == 0 and self.parent_index[i] >= 0]
        if len(leaves) < 20:
            return  # too small a taxonomy to learn from: keep the default weights
        from sklearn.linear_model import LogisticRegression

        queries = random.Random(self.seed).sample(leaves, min(self.fit_queries, len(leaves)))
        rows, labels = [], []
        for i in queries:
            features = self._features(self.nodes[i].name, self.name_vectors[i], hide=i)
            top = set(np.argsort(-(features @ self.weights))[:30].tolist()) | {int(self.parent_index[i])}
            for j in top:
                rows.append(features[j])
                labels.append(int(j == self.parent_index[i]))
        model = LogisticRegression(max_iter=1000, class_weight="balanced").fit(np.array(rows), labels)
        self.weights = model.coef_[0]
        self.bias = float(model.intercept_[0])

    def _logits(self, names: Sequence[str]) -> list[np.ndarray]:
        """Every node's log-odds as the parent of each name."""
        if not self.nodes:
            raise RuntimeError("the hypernym baseline has no taxonomy: call initialize(nodes) first")
        from shelfgraph.retrieval.embeddings import embed

        return [self._features(name, vector) @ self.weights + self.bias for name, vector in zip(names, embed(list(names)))]

    def rank(self, names: Sequence[str], k: int = 5) -> list[list[Scored]]:
        return [[Scored(label=self.nodes[j].id, score=_sigmoid(scores[j])) for j in np.argsort(-scores)[:k]]
                for scores in self._logits(names)]

    def score(self, names: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[list[float | None]]:
        index = {node.id: i for i, node in enumerate(self.nodes)}
        return [[_sigmoid(scores[index[c]]) if c in index else None for c in ids]
                for scores, ids in zip(self._logits(names), candidates)]


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _factory(context: Any = None, **config: Any) -> EmbeddingHypernym:
    return EmbeddingHypernym(**config)


def register_steps(register) -> None:
    register("hypernym", "baseline", _factory, default_config={"fit_queries": 300, "seed": 0},
             description="MiniLM similarity to node names, paths and children plus head-word "
                         "matching, weighed by logistic regression fitted on the taxonomy's own leaves")
