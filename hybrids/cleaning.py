"""`cleaning` hybrid: the two sides' p(wrong), blended."""

from __future__ import annotations

from collections.abc import Sequence

from shelfgraph.stages.cleaning import CleaningStep
from shelfgraph.steps import Triple

from ._parts import Weighted, registration

# Chosen on splits of OA-Mine TRAIN (docs/results.md has the commands and numbers).
DEFAULTS = {"weight": 0.1, "stack": None}  # stack: fitted by scripts/tune_hybrids.py --adapter


class HybridCleaning(Weighted, CleaningStep):
    def score(self, triples: Sequence[Triple]) -> list[float | None]:
        return self.blend_scores(triples)


register_steps = registration(HybridCleaning, DEFAULTS)
