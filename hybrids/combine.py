"""How a hybrid combines its baseline's and its agent's answers, as plain functions of the two
sides' outputs: the hybrid steps call them, and `scripts/tune_hybrids.py` calls the same ones
to score candidate settings from one round of answers.

* Extraction kinds (`type`, `imputation`): the baseline answers first; the agent is asked only
  for what the baseline left empty or gave a confidence below `threshold` (`unsure`), and its
  answer (when it has one with at least `agent_threshold`) replaces the baseline's.
* Scored kinds: `blend` per item, `weight` on the agent, or a stack fitted on validation
  (`shelfgraph.stacking`) in its place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import NamedTuple

from shelfgraph.models import Product
from shelfgraph.steps import AttributeScore, Extraction, Scored


def blend(agent: float | None, baseline: float | None, weight: float) -> float | None:
    """`weight` on the agent's score; where one side has none, the other's stands."""
    if agent is None:
        return baseline
    if baseline is None:
        return agent
    return weight * agent + (1 - weight) * baseline


def unsure(extraction: Extraction | None, threshold: float) -> bool:
    """The baseline found nothing, or found it with a confidence below `threshold`."""
    return extraction is None or (extraction.confidence is not None and extraction.confidence < threshold)


def attribute_shares(products: Sequence[Product]) -> dict[tuple[str, str], float]:
    """(type, attribute) -> share of the type's products that have a value for it."""
    by_type = Counter(p.product_type or "" for p in products)
    having = Counter((p.product_type or "", a) for p in products for a, values in p.attributes.items() if values)
    return {key: n / by_type[key[0]] for key, n in having.items()}


class Question(NamedTuple):
    """What the agent is asked about one product: `product` carries the baseline's confident
    values as given facts."""

    index: int  # of the product in the batch
    product: Product
    attributes: list[str]


def imputation_questions(products: Sequence[Product], attributes: Sequence[Sequence[str]],
                         found: Sequence[dict[str, Extraction]], threshold: float,
                         shares: dict[tuple[str, str], float], min_share: float) -> list[Question]:
    """The wanted attributes the baseline is unsure of. One it left empty is asked only when at
    least `min_share` of the type's training products have it (`shares`; all are asked when
    `shares` is empty): most of a type's attributes are absent from most titles, and asking
    the agent about each of them costs seconds for nothing."""
    questions = []
    for i, (product, wanted) in enumerate(zip(products, attributes)):
        confident = {a: e for a, e in found[i].items() if not unsure(e, threshold)}
        ask = [a for a in wanted if a not in confident and
               (a in found[i] or not shares or shares.get((product.product_type or "", a), 0.0) >= min_share)]
        if ask:
            given = product.model_copy(update={"attributes": {a: [e.value] for a, e in confident.items()}})
            questions.append(Question(i, given, ask))
    return questions


def accept_answers(found: dict[str, Extraction], answers: Sequence[Extraction],
                   agent_threshold: float) -> dict[str, Extraction]:
    """`found` with the agent's answers of at least `agent_threshold` in place of the baseline's."""
    merged = dict(found)
    for extraction in answers:
        if extraction.confidence is None or extraction.confidence >= agent_threshold:
            merged[extraction.attribute] = extraction
    return merged


def blend_ranking(agent: Sequence[Scored], baseline: Sequence[Scored], weight: float, k: int) -> list[Scored]:
    """Candidates of both rankings, blended, best `k`; a candidate one side did not rank scores
    0 there. (Letting the other side's score stand would rank a candidate only one side found
    above one both agree on, since the two sides' scores are on different scales.)"""
    a_scores, b_scores = {s.label: s.score for s in agent}, {s.label: s.score for s in baseline}
    labels = list(dict.fromkeys([*b_scores, *a_scores]))
    scored = [Scored(label=label, score=blend(a_scores.get(label) or 0.0, b_scores.get(label) or 0.0, weight))
              for label in labels]
    scored.sort(key=lambda s: -(s.score or 0.0))
    return scored[:k]


def stack_ranking(candidates: Sequence[str], agent: Sequence[float | None], baseline: Sequence[float | None],
                  stack: Callable[[float | None, float | None], float | None], k: int) -> list[Scored]:
    """The candidates, both sides' scores of each combined by `stack`, best `k`."""
    scored = [Scored(label=c, score=stack(a, b)) for c, a, b in zip(candidates, agent, baseline)]
    scored.sort(key=lambda s: -(s.score or 0.0))
    return scored[:k]


def combine_attribute_scores(agent: Sequence[AttributeScore], baseline: Sequence[AttributeScore],
                             applicable: Callable[[float | None, float | None], float | None],
                             weight: float) -> list[AttributeScore]:
    """The attributes either side scored, most applicable first: applicability combined by
    `applicable` (the hybrid's blend, or its stack), importance blended with `weight` (no
    gold importance to fit a stack on). An attribute one side did not score keeps the other's
    score, unless `applicable` gives it none (`BASELINE_ONLY` on one only the agent scored)."""
    a_scores, b_scores = {s.attribute: s for s in agent}, {s.attribute: s for s in baseline}
    merged = []
    for attribute in dict.fromkeys([*b_scores, *a_scores]):
        a, b = a_scores.get(attribute), b_scores.get(attribute)
        score = applicable(a and a.applicable, b and b.applicable)
        if score is not None:
            merged.append(AttributeScore(attribute=attribute, applicable=score,
                                         importance=blend(a and a.importance, b and b.importance, weight)))
    merged.sort(key=lambda s: -s.applicable)
    return merged
