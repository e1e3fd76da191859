"""`type` hybrid: the baseline's type phrase, or the agent's where the baseline is unsure."""

from __future__ import annotations

from collections.abc import Sequence

from shelfgraph.models import Product
from shelfgraph.stages.type import TypeStep
from shelfgraph.steps import Extraction

from ._parts import Hybrid, Parts, registration
from .combine import unsure

# Chosen on every 5th WDC-PAVE train_large record (thresholds 0.3/0.5/0.7 tied: 0.5 kept);
# docs/results.md has the commands and numbers.
DEFAULTS = {"threshold": 0.5}


class HybridType(Hybrid, TypeStep):
    def __init__(self, parts: Parts, threshold: float):
        super().__init__(parts)
        self.threshold = threshold

    def predict(self, products: Sequence[Product]) -> list[Extraction | None]:
        found = list(self.parts.baseline.predict(products))
        self.parts.items += len(products)
        asked = [i for i, e in enumerate(found) if unsure(e, self.threshold)]
        if asked:
            answers = self.parts.ask(lambda: self.parts.agent.predict([products[i] for i in asked]), len(asked))
            for i, answer in zip(asked, answers):
                found[i] = answer or found[i]
        return found


register_steps = registration(HybridType, DEFAULTS)
