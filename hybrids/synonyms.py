"""`synonyms` hybrid: the two sides' p(same), blended."""

from __future__ import annotations

from collections.abc import Sequence

from shelfgraph.stages.synonyms import SynonymStep
from shelfgraph.steps import Pair

from ._parts import Weighted, registration

# Chosen on the TRAIN pairs: by F1 at 0.5, then AUPR (docs/results.md has the commands and numbers).
DEFAULTS = {"weight": 0.4, "stack": None}  # stack: fitted by scripts/tune_hybrids.py --adapter


class HybridSynonyms(Weighted, SynonymStep):
    def score(self, pairs: Sequence[Pair]) -> list[float | None]:
        return self.blend_scores(pairs)


register_steps = registration(HybridSynonyms, DEFAULTS)
