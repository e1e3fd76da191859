"""A person's decision from the web page, on the `review` command's queue and decisions
(shelfgraph/review.py).

A decision is its own `review` run (config: who, `via: web`), and the store is opened for
writing only for that decision, so the server otherwise only reads it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from ..review import Action, correction_value, decide_fact, fact_by_id
from ..store import REVIEW_COMMAND, Ledger


class Decision(BaseModel):
    """The review form: what to do with which fact."""

    action: Action
    fact_id: str
    value: str = ""  # the right value, for `correct`


def decide(store: Path, who: str, decision: Decision) -> str:
    """Make one decision in its own `review` run; returns the id of the fact now standing
    (the new fact of a correction). Raises KeyError for an unknown fact, ValueError for a
    correction without a value, StoreError when the store cannot be written."""
    if decision.action == "correct":
        correction_value(decision.value)  # a blank correction is refused before a run is recorded
    with Ledger(store, exclusive=True) as ledger:
        old = fact_by_id(ledger, decision.fact_id)  # so is an unknown fact
        with ledger.recorded_run(REVIEW_COMMAND, {"who": who, "via": "web", **decision.model_dump()}) as run:
            standing = decide_fact(ledger, decision.action, old, run.id, who, decision.value).id
            run.summary.update({decision.action: 1, "fact": standing})
    return standing
