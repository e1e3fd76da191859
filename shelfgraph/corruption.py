"""Synthetic errors for the cleaning step, made the way AutoKnow trains its cleaner.

A share of (product, attribute, value) triples gets a wrong value: another product's value of
the same attribute (`swap`), a value of another attribute (`other_attribute`), or a random
span of the product's title (`title_span`). A triple is labelled corrupted only when its value
really changed: the new value must not equal (after `normalise_label`) any gold value the
product has for that attribute, so an unchanged triple is never counted as an error.
"""

from __future__ import annotations

import random
from typing import Literal, Sequence

from pydantic import BaseModel

from .models import Product, is_no_value, normalise_label
from .steps import Triple

CorruptionKind = Literal["swap", "other_attribute", "title_span"]
CORRUPTION_KINDS: tuple[CorruptionKind, ...] = ("swap", "other_attribute", "title_span")


class LabelledTriple(BaseModel):
    triple: Triple
    corrupted: bool
    kind: CorruptionKind | None = None  # how it was corrupted; None when unchanged
    original: str | None = None  # the gold value it replaced


def gold_triples(products: Sequence[Product]) -> list[Triple]:
    """One triple per (product, attribute, gold value); "n/a" values are skipped."""
    return [
        Triple(product=product, attribute=attribute, value=value)
        for product in products
        for attribute, values in product.attributes.items()
        for value in values
        if not is_no_value(value)
    ]


class _Pools:
    """Values available to each corruption kind, drawn from the triples being corrupted."""

    def __init__(self, triples: Sequence[Triple]):
        self.by_attribute: dict[str, list[str]] = {}
        self.all_values: list[tuple[str, str]] = []
        for triple in triples:
            self.by_attribute.setdefault(triple.attribute, []).append(triple.value)
            self.all_values.append((triple.attribute, triple.value))

    def swap(self, triple: Triple, rng: random.Random) -> list[str]:
        return self.by_attribute.get(triple.attribute, [])

    def other_attribute(self, triple: Triple, rng: random.Random) -> list[str]:
        own = [v for a, vs in triple.product.attributes.items() if a != triple.attribute for v in vs]
        if any(not is_no_value(v) for v in own):
            return own
        return [v for a, v in self.all_values if a != triple.attribute]

    def title_span(self, triple: Triple, rng: random.Random) -> list[str]:
        tokens = triple.product.title.split()
        spans: list[str] = []
        for _ in range(8 if tokens else 0):  # a few random spans of 1-3 tokens
            length = rng.randint(1, min(3, len(tokens)))
            start = rng.randrange(len(tokens) - length + 1)
            spans.append(" ".join(tokens[start : start + length]))
        return spans


def _replacement(triple: Triple, kind: CorruptionKind, pools: _Pools, rng: random.Random) -> str | None:
    """A value for `triple` that is none of the product's gold values for its attribute."""
    gold = {normalise_label(v) for v in triple.product.attributes.get(triple.attribute, [])}
    gold.add(normalise_label(triple.value))
    candidates = getattr(pools, kind)(triple, rng)
    usable = [v for v in candidates if normalise_label(v) not in gold and not is_no_value(v)]
    return rng.choice(usable) if usable else None


def corrupt(
    triples: Sequence[Triple], rate: float = 0.3, seed: int = 0,
    kinds: Sequence[CorruptionKind] = CORRUPTION_KINDS,
) -> list[LabelledTriple]:
    """Corrupt about `rate` of `triples` (same order, same length), kinds drawn uniformly.

    A triple chosen for corruption whose kind has no usable value tries the other kinds; if
    none has one it stays unchanged and is labelled clean."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"corruption rate must be in [0, 1], got {rate}")
    rng = random.Random(seed)
    pools = _Pools(triples)
    chosen = set(rng.sample(range(len(triples)), round(rate * len(triples))))
    labelled = []
    for i, triple in enumerate(triples):
        result = LabelledTriple(triple=triple, corrupted=False)
        if i in chosen:
            for kind in rng.sample(list(kinds), len(kinds)):
                value = _replacement(triple, kind, pools, rng)
                if value is not None:
                    changed = triple.model_copy(update={"value": value})
                    result = LabelledTriple(triple=changed, corrupted=True, kind=kind, original=triple.value)
                    break
        labelled.append(result)
    return labelled
