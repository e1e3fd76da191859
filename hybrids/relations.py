"""`relations` hybrid: applicability and importance of each attribute, blended, or, given a
`stack` fitted on validation categories (`scripts/tune_hybrids.py relations`), the
applicability stacked (`combine.combine_attribute_scores`)."""

from __future__ import annotations

from collections.abc import Sequence

from shelfgraph.stages.relations import RelationStep
from shelfgraph.steps import AttributeScore, RelationQuery

from ._parts import Weighted, registration
from .combine import combine_attribute_scores

# Chosen on 10 Shopify categories of seed 1 (0.3 best of 0.3/0.5/0.7; docs/results.md has the commands).
DEFAULTS = {"weight": 0.3, "stack": None}  # stack: fitted by scripts/tune_hybrids.py relations


class HybridRelations(Weighted, RelationStep):
    def predict(self, queries: Sequence[RelationQuery]) -> list[list[AttributeScore]]:
        agent, baseline = self.both("predict", queries)
        return [combine_attribute_scores(a, b, self.combine, self.weight) for a, b in zip(agent, baseline)]


register_steps = registration(HybridRelations, DEFAULTS)
