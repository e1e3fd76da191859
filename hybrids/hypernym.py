"""`hypernym` hybrid: the candidates of both rankings, blended (`combine.blend_ranking`), or,
given a `stack` fitted on validation leaves (`scripts/tune_hybrids.py hypernym`, a tuned
agent), the agent's candidates and the baseline's top `k`, each scored by both sides and
ranked by the stack's P(parent) (`combine.stack_ranking`)."""

from __future__ import annotations

from collections.abc import Sequence

from shelfgraph.stages.hypernym import HypernymStep
from shelfgraph.steps import Scored

from ._parts import Weighted, registration
from .combine import blend_ranking, stack_ranking

# Chosen on 20 leaves of seed 1 (0.3 best of 0.3/0.5/0.7; docs/results.md has the commands).
DEFAULTS = {"weight": 0.3, "stack": None}  # stack: fitted by scripts/tune_hybrids.py hypernym --adapter


class HybridHypernym(Weighted, HypernymStep):
    def rank(self, names: Sequence[str], k: int = 5) -> list[list[Scored]]:
        if self.stacked:
            candidates = self.candidates(names, k)
            agent, baseline = self.both("score", names, candidates)
            return [stack_ranking(c, a, b, self.combine, k) for c, a, b in zip(candidates, agent, baseline)]
        agent, baseline = self.both("rank", names, k)
        return [blend_ranking(a, b, self.weight, k) for a, b in zip(agent, baseline)]

    def candidates(self, names: Sequence[str], k: int = 5) -> list[list[str]]:
        """The agent's candidates and the baseline's top `k`: what the blend can choose from."""
        baseline = self.parts.baseline.rank(names, k)
        return [list(dict.fromkeys([*own, *(s.label for s in top)]))
                for own, top in zip(self.parts.agent.candidates(names, k), baseline)]


register_steps = registration(HybridHypernym, DEFAULTS)
