"""`hypernym` hybrid: the candidates of both rankings, blended (`combine.blend_ranking`)."""

from __future__ import annotations

from collections.abc import Sequence

from shelfgraph.stages.hypernym import HypernymStep
from shelfgraph.steps import Scored

from ._parts import Weighted, registration
from .combine import blend_ranking

# Chosen on 20 leaves of seed 1 (0.3 best of 0.3/0.5/0.7; docs/results.md has the commands).
DEFAULTS = {"weight": 0.3}


class HybridHypernym(Weighted, HypernymStep):
    def rank(self, names: Sequence[str], k: int = 5) -> list[list[Scored]]:
        agent, baseline = self.both("rank", names, k)
        return [blend_ranking(a, b, self.weight, k) for a, b in zip(agent, baseline)]

    def candidates(self, names: Sequence[str], k: int = 5) -> list[list[str]]:
        """The agent's candidates and the baseline's top `k`: what the blend can choose from."""
        baseline = self.parts.baseline.rank(names, k)
        return [list(dict.fromkeys([*own, *(s.label for s in top)]))
                for own, top in zip(self.parts.agent.candidates(names, k), baseline)]


register_steps = registration(HybridHypernym, DEFAULTS)
