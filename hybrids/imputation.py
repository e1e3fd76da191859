"""`imputation` hybrid: the baseline's values; the agent is asked about the attributes the
baseline is unsure of (`combine.imputation_questions`), seeing the confident values as given
facts of the product, and its confident answers replace the baseline's."""

from __future__ import annotations

from collections.abc import Sequence

from shelfgraph.models import Product
from shelfgraph.stages.imputation import ImputationStep
from shelfgraph.steps import Extraction

from ._parts import Hybrid, Parts, registration
from .combine import accept_answers, attribute_shares, imputation_questions

# (threshold, agent_threshold) chosen on splits of OA-Mine TRAIN (docs/results.md has the
# commands and numbers); min_share is set a priori.
DEFAULTS = {"threshold": 0.8, "agent_threshold": 0.6, "min_share": 0.3}
# The agent is asked about a few attributes of many products, so its demonstrations are per
# type (a prompt prefix evaluated once per type).
AGENT_DEFAULTS = {"demos": "type"}


class HybridImputation(Hybrid, ImputationStep):
    def __init__(self, parts: Parts, threshold: float, agent_threshold: float, min_share: float):
        super().__init__(parts)
        self.threshold = threshold
        self.agent_threshold = agent_threshold
        self.min_share = min_share
        self.shares: dict[tuple[str, str], float] = {}  # (type, attribute) -> share of training products

    def initialize(self, train: Sequence[Product]) -> None:
        super().initialize(train)
        self.shares = attribute_shares(train)

    def predict(self, products: Sequence[Product], attributes: Sequence[Sequence[str]]) -> list[list[Extraction]]:
        if len(products) != len(attributes):
            raise ValueError(f"{len(products)} products but {len(attributes)} attribute lists")
        baseline = self.parts.baseline.predict(products, attributes)
        self.parts.items += len(products)
        found = [{e.attribute: e for e in extractions} for extractions in baseline]
        questions = imputation_questions(products, attributes, found, self.threshold, self.shares, self.min_share)
        if questions:
            answers = self.parts.ask(lambda: self.parts.agent.predict([q.product for q in questions],
                                                                      [q.attributes for q in questions]),
                                     len(questions))
            for question, answer in zip(questions, answers):
                found[question.index] = accept_answers(found[question.index], answer, self.agent_threshold)
        return [list(values.values()) for values in found]


register_steps = registration(HybridImputation, DEFAULTS, AGENT_DEFAULTS)
