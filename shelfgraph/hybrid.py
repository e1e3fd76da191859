"""`hybrid`: one mechanism, every step kind: the baseline and the agent built by name through
the registry, combined.

* Extraction kinds (`type`, `imputation`): the baseline answers first; the agent is asked only
  for what the baseline left empty or gave a confidence below `threshold`, and its answer
  (when it has one with at least `agent_threshold`) replaces the baseline's. The agent sees
  the baseline's confident values as given facts of the product. For imputation, an attribute
  the baseline left empty is asked only when at least `min_share` of the type's training
  products have it: most of a type's attributes are absent from most titles, and asking the
  agent about each of them costs seconds for nothing.
* Scored kinds (`cleaning`, `synonyms`, `hypernym`, `relations`): `weight * agent + (1 -
  weight) * baseline` per item; where one side has no score, the other side's score stands,
  except in hypernym rankings, where a candidate missing from one side's top list scores 0.
  Cleaning and synonyms may instead take a `stack`: a logistic regression on both scores
  fitted on validation (`shelfgraph.stacking`), calibrated and never below the baseline there.

`threshold` and `weight` are configuration, chosen on a validation split of TRAIN
(`scripts/tune_hybrids.py`); `prompt` and `adapter` (from `shelfgraph tune`) go to the agent,
`baseline` and `agent` are the parts' own configurations.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from typing import Any, Callable, Sequence

from .context import StepContext
from .models import Product
from .steps import (
    STEP_KINDS, AttributeScore, CleaningStep, Extraction, HypernymStep, ImputationStep, Pair, RelationQuery,
    RelationStep, Scored, Signature, Step, StepKind, SynonymStep, Triple, TypeStep,
)

# Chosen on validation data, never on test (docs/results.md has the commands and numbers):
# imputation (threshold, agent_threshold) and cleaning on splits of OA-Mine TRAIN; synonyms on
# the TRAIN pairs (both weights by F1 at 0.5, then AUPR); relations on 10 Shopify categories of
# seed 1 (0.3 best of 0.3/0.5/0.7); hypernym on 20 leaves of seed 1 (0.3 best of the three);
# type on every 5th WDC-PAVE train_large record (thresholds 0.3/0.5/0.7 tied: 0.5 kept).
# min_share is set a priori.
DEFAULTS: dict[str, dict[str, Any]] = {
    "type": {"threshold": 0.5},
    "imputation": {"threshold": 0.8, "agent_threshold": 0.6, "min_share": 0.3},
    "cleaning": {"weight": 0.1, "stack": None},
    "synonyms": {"weight": 0.4, "stack": None},
    "hypernym": {"weight": 0.3},
    "relations": {"weight": 0.3},
}
# The agent's own settings in a hybrid: the imputation agent is asked about a few attributes of
# many products, so its demonstrations are per type (a prompt prefix evaluated once per type).
AGENT_DEFAULTS: dict[str, dict[str, Any]] = {"imputation": {"demos": "type"}}


class _Parts:
    """The two steps of a hybrid and how often the agent was asked."""

    def __init__(self, kind: StepKind, context: StepContext, prompt: str | None,
                 baseline: dict[str, Any] | None, agent: dict[str, Any] | None, adapter: str | None = None):
        from . import registry

        agent_config = {**AGENT_DEFAULTS.get(kind, {}), **(agent or {})}
        if prompt is not None:
            agent_config["prompt"] = prompt
        if adapter is not None:
            agent_config["adapter"] = adapter
        self.baseline = registry.create(kind, "baseline", context=context, **(baseline or {}))
        self.agent = registry.create(kind, "agent", context=context, **agent_config)
        self.items = 0  # items the hybrid was given
        self.asked = 0  # items the agent was asked about
        self.agent_s = 0.0

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        self.baseline.initialize(*args, **kwargs)
        self.agent.initialize(*args, **kwargs)

    def ask(self, call: Callable[[], Any], n: int) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.agent_s += time.perf_counter() - started
            self.asked += n

    def signature(self) -> Signature:
        agent = self.agent.signature()
        return Signature(method="hybrid", model=agent.model, prompt=agent.prompt)

    def stats(self) -> dict[str, Any]:
        return {"agent_asked": self.asked, "agent_share": round(self.asked / self.items, 3) if self.items else None,
                "agent_s_per_asked": round(self.agent_s / self.asked, 3) if self.asked else None}


class _Hybrid:
    """What every hybrid shares: the parts, initialisation, signature and usage counts."""

    def __init__(self, parts: _Parts):
        self.parts = parts

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        self.parts.initialize(*args, **kwargs)

    def signature(self) -> Signature:
        return self.parts.signature()

    def stats(self) -> dict[str, Any]:
        return self.parts.stats()


def blend(agent: float | None, baseline: float | None, weight: float) -> float | None:
    """`weight` on the agent's score; where one side has none, the other's stands."""
    if agent is None:
        return baseline
    if baseline is None:
        return agent
    return weight * agent + (1 - weight) * baseline


def attribute_shares(products: Sequence[Product]) -> dict[tuple[str, str], float]:
    """(type, attribute) -> share of the type's products that have a value for it."""
    by_type = Counter(p.product_type or "" for p in products)
    having = Counter((p.product_type or "", a) for p in products for a, values in p.attributes.items() if values)
    return {key: n / by_type[key[0]] for key, n in having.items()}


def _unsure(extraction: Extraction | None, threshold: float) -> bool:
    return extraction is None or (extraction.confidence is not None and extraction.confidence < threshold)


class HybridType(_Hybrid, TypeStep):
    def __init__(self, parts: _Parts, threshold: float):
        super().__init__(parts)
        self.threshold = threshold

    def predict(self, products: Sequence[Product]) -> list[Extraction | None]:
        found = list(self.parts.baseline.predict(products))
        self.parts.items += len(products)
        unsure = [i for i, e in enumerate(found) if _unsure(e, self.threshold)]
        if unsure:
            answers = self.parts.ask(lambda: self.parts.agent.predict([products[i] for i in unsure]), len(unsure))
            for i, answer in zip(unsure, answers):
                found[i] = answer or found[i]
        return found


class HybridImputation(_Hybrid, ImputationStep):
    def __init__(self, parts: _Parts, threshold: float, agent_threshold: float, min_share: float):
        super().__init__(parts)
        self.threshold = threshold
        self.agent_threshold = agent_threshold
        self.min_share = min_share
        self.shares: dict[tuple[str, str], float] = {}  # (type, attribute) -> share of training products

    def initialize(self, train: Sequence[Product]) -> None:
        super().initialize(train)
        self.shares = attribute_shares(train)

    def _worth_asking(self, product: Product, attribute: str, baseline: Extraction | None) -> bool:
        if baseline is not None or not self.shares:  # unsure, or nothing known to judge by
            return True
        return self.shares.get((product.product_type or "", attribute), 0.0) >= self.min_share

    def predict(self, products: Sequence[Product], attributes: Sequence[Sequence[str]]) -> list[list[Extraction]]:
        if len(products) != len(attributes):
            raise ValueError(f"{len(products)} products but {len(attributes)} attribute lists")
        baseline = self.parts.baseline.predict(products, attributes)
        self.parts.items += len(products)
        merged: list[dict[str, Extraction]] = [{e.attribute: e for e in found} for found in baseline]
        questions = []  # (product index, product with the confident values as given, attributes to ask)
        for i, (product, wanted) in enumerate(zip(products, attributes)):
            confident = {a: e for a, e in merged[i].items() if not _unsure(e, self.threshold)}
            ask = [a for a in wanted if a not in confident and self._worth_asking(product, a, merged[i].get(a))]
            if ask:
                given = product.model_copy(update={"attributes": {a: [e.value] for a, e in confident.items()}})
                questions.append((i, given, ask))
        if questions:
            answers = self.parts.ask(
                lambda: self.parts.agent.predict([q[1] for q in questions], [q[2] for q in questions]), len(questions))
            for (i, _, _), found in zip(questions, answers):
                for extraction in found:
                    if extraction.confidence is None or extraction.confidence >= self.agent_threshold:
                        merged[i][extraction.attribute] = extraction
        return [list(found.values()) for found in merged]


class _Weighted(_Hybrid):
    """Hybrids that blend the two sides' scores with `weight` on the agent, or, given a `stack`
    fitted on validation (`shelfgraph.stacking`; cleaning and synonyms), combine them by it."""

    def __init__(self, parts: _Parts, weight: float, stack: dict[str, float] | None = None):
        from .stacking import Stack

        super().__init__(parts)
        self.weight = weight
        self.combine = Stack(**stack) if stack else functools.partial(blend, weight=weight)

    def _both(self, method: str, items: Sequence[Any], *args: Any) -> tuple[list[Any], list[Any]]:
        """The agent's and the baseline's answers to the same call, the agent's timed."""
        baseline = getattr(self.parts.baseline, method)(items, *args)
        self.parts.items += len(items)
        agent = self.parts.ask(lambda: getattr(self.parts.agent, method)(items, *args), len(items))
        return agent, baseline

    def _blend_scores(self, items: Sequence[Any]) -> list[float | None]:
        agent, baseline = self._both("score", items)
        return [self.combine(a, b) for a, b in zip(agent, baseline)]


class HybridCleaning(_Weighted, CleaningStep):
    def score(self, triples: Sequence[Triple]) -> list[float | None]:
        return self._blend_scores(triples)


class HybridSynonyms(_Weighted, SynonymStep):
    def score(self, pairs: Sequence[Pair]) -> list[float | None]:
        return self._blend_scores(pairs)


class HybridHypernym(_Weighted, HypernymStep):
    """Candidates of both rankings, blended; a candidate one side did not rank scores 0 there.
    (Letting the other side's score stand would rank a candidate only one side found above
    one both agree on, since the two sides' scores are on different scales.)"""

    def rank(self, names: Sequence[str], k: int = 5) -> list[list[Scored]]:
        agent, baseline = self._both("rank", names, k)
        ranked = []
        for a_list, b_list in zip(agent, baseline):
            a_scores, b_scores = {s.label: s.score for s in a_list}, {s.label: s.score for s in b_list}
            labels = list(dict.fromkeys([*b_scores, *a_scores]))
            scored = [Scored(label=label, score=blend(a_scores.get(label) or 0.0, b_scores.get(label) or 0.0,
                                                       self.weight))
                      for label in labels]
            scored.sort(key=lambda s: -(s.score or 0.0))
            ranked.append(scored[:k])
        return ranked


class HybridRelations(_Weighted, RelationStep):
    def predict(self, queries: Sequence[RelationQuery]) -> list[list[AttributeScore]]:
        agent, baseline = self._both("predict", queries)
        out = []
        for a_list, b_list in zip(agent, baseline):
            a_scores, b_scores = {s.attribute: s for s in a_list}, {s.attribute: s for s in b_list}
            merged = []
            for attribute in dict.fromkeys([*b_scores, *a_scores]):
                a, b = a_scores.get(attribute), b_scores.get(attribute)
                merged.append(AttributeScore(
                    attribute=attribute,
                    applicable=blend(a and a.applicable, b and b.applicable, self.weight),
                    importance=blend(a and a.importance, b and b.importance, self.weight)))
            merged.sort(key=lambda s: -s.applicable)
            out.append(merged)
        return out


_CLASSES: dict[StepKind, type[Step]] = {
    "type": HybridType, "imputation": HybridImputation, "cleaning": HybridCleaning,
    "synonyms": HybridSynonyms, "hypernym": HybridHypernym, "relations": HybridRelations,
}


def build(kind: StepKind, context: StepContext | None = None, prompt: str | None = None,
          baseline: dict[str, Any] | None = None, agent: dict[str, Any] | None = None, adapter: str | None = None,
          **settings: Any) -> Step:
    """The hybrid of `kind`: its parts built by name, `settings` (threshold/weight) checked."""
    allowed = DEFAULTS[kind]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise TypeError(f"hybrid {kind} takes {', '.join(sorted(allowed))} (and prompt, adapter, baseline, agent), "
                        f"not {', '.join(unknown)}")
    parts = _Parts(kind, context or StepContext(), prompt, baseline, agent, adapter)
    return _CLASSES[kind](parts, **settings)


FACTORIES: dict[StepKind, Callable[..., Step]] = {kind: functools.partial(build, kind) for kind in STEP_KINDS}


def register_steps(register: Callable[..., None]) -> None:
    for kind in STEP_KINDS:
        register(kind, "hybrid", FACTORIES[kind], default_config=dict(DEFAULTS[kind]),
                 description=f"baseline and agent combined ({', '.join(DEFAULTS[kind])} chosen on validation)")
