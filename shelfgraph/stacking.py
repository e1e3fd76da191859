"""Stacked hybrids: a logistic regression on (agent score, baseline score) instead of a fixed
blend, fitted on a validation split of TRAIN (`scripts/tune_hybrids.py`), never on test.

A fixed blend can only be as good as its weight's one compromise; a tuned judge and a
classical baseline err on different items, and a regression on the log-odds of both learns
how far to trust each and gives a calibrated probability back (0.5 means even odds on the
validation data). A stack that ranks the validation items worse than the baseline alone is
not kept: the fit then returns `BASELINE_ONLY`, which gives the baseline's scores unchanged, so
a stacked hybrid is never below its baseline on the split it was fitted on.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from pydantic import BaseModel

EPSILON = 1e-6  # scores are clipped to [EPSILON, 1 - EPSILON] before their log-odds


def log_odds(score: float) -> float:
    p = min(max(score, EPSILON), 1.0 - EPSILON)
    return math.log(p / (1.0 - p))


class Stack(BaseModel):
    """P(positive) = sigmoid(intercept + agent * logit(agent score) + baseline * logit(baseline score))."""

    intercept: float
    agent: float
    baseline: float

    def __call__(self, agent: float | None, baseline: float | None) -> float | None:
        """The stacked score; where one side has no score, the other side's stands (as in a blend)."""
        if agent is None or self == BASELINE_ONLY:
            return baseline
        if baseline is None:
            return agent
        z = self.intercept + self.agent * log_odds(agent) + self.baseline * log_odds(baseline)
        return 1.0 / (1.0 + math.exp(-max(min(z, 500.0), -500.0)))


BASELINE_ONLY = Stack(intercept=0.0, agent=0.0, baseline=1.0)


def fit_stack(labels: Sequence[int], agent: Sequence[float | None], baseline: Sequence[float | None],
              measure: Callable[[Sequence[int], Sequence[float | None]], float]) -> Stack:
    """The stack fitted on validation items scored by both sides, or `BASELINE_ONLY` when it
    does worse than the baseline by `measure` (e.g. AUPR) on these items or when the items do
    not have both classes."""
    from sklearn.linear_model import LogisticRegression

    both = [(y, a, b) for y, a, b in zip(labels, agent, baseline) if a is not None and b is not None]
    if len({y for y, _, _ in both}) < 2:
        return BASELINE_ONLY
    model = LogisticRegression(C=1.0).fit([[log_odds(a), log_odds(b)] for _, a, b in both], [y for y, _, _ in both])
    stack = Stack(intercept=float(model.intercept_[0]), agent=float(model.coef_[0][0]),
                  baseline=float(model.coef_[0][1]))
    stacked = [stack(a, b) for a, b in zip(agent, baseline)]
    return stack if measure(labels, stacked) >= measure(labels, baseline) else BASELINE_ONLY
