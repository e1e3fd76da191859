"""Relation baseline: attributes of the nearest known types, and AutoKnow's frequency features.

Applicability: a type takes the attributes of the types nearest to it (MiniLM cosine of
"path > name" texts, the parent always counted), each attribute scored by the
similarity-weighted share of neighbours that have it. When the query carries products, the
share of them whose title or description mentions one of the attribute's values (AutoKnow's
frequency feature) is averaged in.

Importance: how often an attribute's values are mentioned in provider text (titles) and in
customer text (reviews, Q&A) of a type's products; it rides on `AttributeScore.importance`
and the pipeline stores it as an `importance:<attribute>` fact. There are no gold importance
labels in the bundled data, so it is never scored.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from shelfgraph.models import Product, TaxonomyNode, is_no_value, normalise_label
from shelfgraph.stages.relations import RelationStep
from shelfgraph.steps import AttributeScore, NotEnoughData, RelationQuery

PATH_SEPARATOR = " > "


def type_text(type_name: str, path: Sequence[str] = ()) -> str:
    """The text a type is embedded as: its ancestors' names, then its own."""
    return PATH_SEPARATOR.join([*path, type_name])


def _mentions(text: str, values: Iterable[str]) -> bool:
    text = normalise_label(text)
    return any(value and value in text for value in values)


def attribute_values(products: Sequence[Product]) -> dict[str, set[str]]:
    values: dict[str, set[str]] = defaultdict(set)
    for product in products:
        for attribute, found in product.attributes.items():
            values[attribute].update(normalise_label(v) for v in found if not is_no_value(v))
    return values


def mention_frequency(products: Sequence[Product], values: Mapping[str, set[str]]) -> dict[str, float]:
    """Per attribute, the share of products whose title or description mentions a value."""
    if not products:
        return {}
    return {
        attribute: sum(_mentions(f"{p.title} {p.description}", vals) for p in products) / len(products)
        for attribute, vals in values.items()
    }


def importance_scores(products: Sequence[Product], values: Mapping[str, set[str]] | None = None) -> dict[str, float]:
    """Importance of each attribute for one type's products: the mean of its provider
    frequency (share of titles mentioning a value) and, where customer text exists, its
    customer frequency (share of reviews and Q&A texts mentioning a value)."""
    values = attribute_values(products) if values is None else values
    customer_texts = [s.text for p in products for s in [*p.reviews, *p.questions]]
    scores = {}
    for attribute, vals in values.items():
        provider = sum(_mentions(p.title, vals) for p in products) / len(products) if products else 0.0
        if customer_texts:
            customer = sum(_mentions(t, vals) for t in customer_texts) / len(customer_texts)
            scores[attribute] = (provider + customer) / 2
        else:
            scores[attribute] = provider
    return scores


class NeighbourRelations(RelationStep):
    def __init__(self, neighbours: int = 10, sharpness: float = 10.0):
        self.neighbours, self.sharpness = neighbours, sharpness
        self.known: dict[str, list[str]] = {}

    def initialize(self, known: dict[str, list[str]], taxonomy: Sequence[TaxonomyNode] = ()) -> None:
        """`known` keys are type names or "A > B > name" paths (better: they disambiguate)."""
        from shelfgraph.retrieval.embeddings import embed

        if not known:
            raise NotEnoughData("the relations baseline needs types with known attributes "
                                "(labelled products with a type)")
        self.known = {k: list(v) for k, v in known.items()}
        self.keys = list(self.known)
        self.vectors = embed(self.keys)

    def _neighbour_scores(self, query: RelationQuery, vector: np.ndarray) -> dict[str, float]:
        from shelfgraph.retrieval.embeddings import cosine_top_k

        indices, sims = cosine_top_k(vector[None, :], self.vectors, self.neighbours)
        weights = {self.keys[i]: float(np.exp(self.sharpness * (s - sims[0][0]))) for i, s in zip(indices[0], sims[0])}
        parent = type_text(query.path[-1], query.path[:-1]) if query.path else None
        for key in (parent, query.path[-1] if query.path else None):
            if key in self.known:
                weights[key] = 1.0  # the parent counts as much as the nearest neighbour
                break
        total = sum(weights.values())
        scores: dict[str, float] = defaultdict(float)
        for key, weight in weights.items():
            for attribute in self.known[key]:
                scores[attribute] += weight / total
        return scores

    def predict(self, queries: Sequence[RelationQuery]) -> list[list[AttributeScore]]:
        if not self.known:
            raise RuntimeError("the relations baseline is not initialised: call initialize(known) first")
        from shelfgraph.retrieval.embeddings import embed

        vectors = embed([type_text(q.type_name, q.path) for q in queries])
        results = []
        for query, vector in zip(queries, vectors):
            scores = self._neighbour_scores(query, vector)
            importance: dict[str, float] = {}
            if query.products:
                values = attribute_values(query.products)
                frequency = mention_frequency(query.products, values)
                importance = importance_scores(query.products, values)
                scores = {a: (scores.get(a, 0.0) + frequency.get(a, 0.0)) / 2 for a in {*scores, *frequency}}
            results.append(sorted(
                (AttributeScore(attribute=a, applicable=s, importance=importance.get(a)) for a, s in scores.items()),
                key=lambda item: -item.applicable,
            ))
        return results


def _factory(context: Any = None, **config: Any) -> NeighbourRelations:
    return NeighbourRelations(**config)


def register_steps(register) -> None:
    register("relations", "baseline", _factory, default_config={"neighbours": 10, "sharpness": 10.0},
             description="attributes of the nearest known types by MiniLM similarity (parent included), "
                         "averaged with how often the attribute's values occur in the type's products")
