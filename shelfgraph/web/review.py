"""The review queue and a person's three decisions, for the web page.

Same meaning as the `review` command's queue (shelfgraph/review.py on branch wt-api, to be
unified with it): attribute facts nobody has reviewed yet (no event from a `review` run),
those cleaning flagged (`rejected`) first, then active facts whose product has another
active value of the same attribute (side by side), then active facts with confidence below
the threshold, least confident first. Selected in SQL page by page, so a queue over a
million facts costs a page, not a scan in Python.

A decision is its own `review` run (config: who, `via: web`), opened for writing only for
that decision: accept keeps the fact active and records the event; reject marks it
rejected; correct stores the right value as a new fact (step `review`, method `human`,
located in the product's text) and rejects the old one. Nothing is deleted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ..models import ATTRIBUTE_PREFIX, Fact, FactStatus, Product, Provenance, key_of_id, normalise_label, product_id_of
from ..store import Ledger

REVIEW = "review"  # the command of review runs: their fact events are the decisions
LOW_CONFIDENCE = 0.5
Why = Literal["flagged", "conflict", "low_confidence"]

_FACT = ("SELECT f.rowid, f.key, s.text, p.text, o.text, f.confidence, f.status, v.step, v.method, v.model, "
         "v.prompt, v.source_field, f.start, f.\"end\", v.run_id FROM fact_rows f JOIN terms s ON s.id = f.subject "
         "JOIN terms p ON p.id = f.predicate JOIN terms o ON o.id = f.object JOIN provenance v ON v.id = f.provenance ")
_ATTRIBUTE = "predicate IN (SELECT id FROM terms WHERE text >= 'attr:' AND text < 'attr;')"  # attr:*
# (subject, predicate) of products with active values of an attribute that differ by more than
# case and spacing (`normalise_label`, registered as `sg_norm`); the text is compared only
# where the interned values already differ.
_CONFLICTING = (
    "SELECT f.subject, f.predicate FROM fact_rows f JOIN terms o ON o.id = f.object "
    "WHERE f.status = 'active' AND (f.subject, f.predicate) IN (SELECT subject, predicate FROM fact_rows "
    f"WHERE status = 'active' AND {_ATTRIBUTE} GROUP BY subject, predicate HAVING MIN(object) < MAX(object)) "
    "GROUP BY f.subject, f.predicate HAVING COUNT(DISTINCT sg_norm(o.text)) > 1")


class ReviewItem(BaseModel):
    """A fact in the queue, the product it is about, and why it is there."""

    fact: Fact
    product: Product
    why: Why
    detail: str  # what a person reads: the cleaning's reason, the other values, the confidence

    @property
    def attribute(self) -> str:
        return self.fact.predicate[len(ATTRIBUTE_PREFIX):]


def queue_order(ledger: Ledger, threshold: float = LOW_CONFIDENCE) -> list[tuple[int, Why]]:
    """The whole queue as (fact row id, why), in review order; pages are slices of it
    (`queue_items`). One pass over the attribute facts: keep it while the store is unchanged."""
    db = ledger.db
    db.create_function("sg_norm", 1, normalise_label, deterministic=True)
    reviewed = {key_of_id(r[0]) for r in db.execute(
        "SELECT e.fact_id FROM fact_events e JOIN runs r ON r.id = e.run_id WHERE r.command = ?", (REVIEW,))}
    conflicting = set(db.execute(_CONFLICTING).fetchall())
    order: list[tuple[int, Why]] = []
    flagged = db.execute(f"SELECT rowid, key FROM fact_rows WHERE status = 'rejected' AND {_ATTRIBUTE} "
                         "ORDER BY coalesce(confidence, 1.0), rowid")
    order += [(rowid, "flagged") for rowid, key in flagged if key not in reviewed]
    for subject, predicate in sorted(conflicting):
        rows = db.execute("SELECT rowid, key FROM fact_rows WHERE subject = ? AND predicate = ? AND status = 'active' "
                          "ORDER BY coalesce(confidence, 1.0), rowid", (subject, predicate))
        order += [(rowid, "conflict") for rowid, key in rows if key not in reviewed]
    low = db.execute(f"SELECT rowid, key, subject, predicate FROM fact_rows WHERE status = 'active' "
                     f"AND confidence < ? AND {_ATTRIBUTE} ORDER BY confidence, rowid", (threshold,))
    order += [(rowid, "low_confidence") for rowid, key, subject, predicate in low
              if key not in reviewed and (subject, predicate) not in conflicting]
    return order


def queue_items(ledger: Ledger, entries: list[tuple[int, Why]]) -> list[ReviewItem]:
    """The review items of some queue entries, in their order (a fact whose product is gone is left out)."""
    if not entries:
        return []
    rows = {row[0]: row for row in ledger.db.execute(
        f"{_FACT}WHERE f.rowid IN ({','.join('?' * len(entries))})", [rowid for rowid, _ in entries])}
    return [item for rowid, why in entries if rowid in rows and (item := _item(ledger, why, rows[rowid])) is not None]


def _item(ledger: Ledger, why: Why, row: tuple) -> ReviewItem | None:
    fact = _fact_of(row)
    product = ledger.product(product_id_of(fact.subject))
    if product is None:
        return None
    if why == "flagged":
        history = ledger.fact_history(fact.id)
        detail = (history[-1]["reason"] if history else None) or "rejected"
    elif why == "conflict":
        others = [f.object for f in ledger.facts(subject=fact.subject, predicate=fact.predicate)
                  if normalise_label(f.object) != normalise_label(fact.object)]
        detail = "other values: " + ", ".join(repr(v) for v in dict.fromkeys(others))
    else:
        detail = f"confidence {fact.confidence:.2f}"
    return ReviewItem(fact=fact, product=product, why=why, detail=detail)


class Decision(BaseModel):
    action: Literal["accept", "reject", "correct"]
    fact_id: str
    value: str = ""  # the right value, for `correct`


def decide(store: Path, who: str, decision: Decision) -> str:
    """Make one decision in its own `review` run; returns the id of the fact now standing
    (the new fact of a correction). Raises KeyError for an unknown fact, ValueError for a
    correction without a value, StoreError when the store cannot be written."""
    if decision.action == "correct" and not decision.value.strip():
        raise ValueError("a correction needs a value")
    with Ledger(store, exclusive=True) as ledger:
        old = _fact(ledger, decision.fact_id)  # an unknown fact is refused before a run is recorded
        with ledger.recorded_run(REVIEW, {"who": who, "via": "web", **decision.model_dump()}) as run:
            standing = _apply(ledger, decision, old, run.id, who)
            run.summary.update({decision.action: 1, "fact": standing})
    return standing


def _apply(ledger: Ledger, decision: Decision, old: Fact, run_id: str, who: str) -> str:
    if decision.action == "accept":
        _record(ledger, old.id, "active", run_id, f"review: accepted by {who}")
    elif decision.action == "reject":
        _record(ledger, old.id, "rejected", run_id, f"review: rejected by {who}")
    else:
        return _correct(ledger, old, decision.value.strip(), run_id, who)
    return old.id


def _fact(ledger: Ledger, fact_id: str) -> Fact:
    try:
        key = key_of_id(fact_id)
    except ValueError:
        raise KeyError(f"{fact_id!r} is not a fact id") from None
    row = ledger.db.execute(_FACT + "WHERE f.key = ?", (key,)).fetchone()
    if row is None:
        raise KeyError(f"no fact {fact_id} in {ledger.path}")
    return _fact_of(row)


def _fact_of(row: tuple) -> Fact:
    """A Fact from a `_FACT` row."""
    (_, _, subject, predicate, obj, confidence, status, step, method, model, prompt, field, start, end, run_id) = row
    return Fact(subject=subject, predicate=predicate, object=obj, confidence=confidence, status=status,
                provenance=Provenance(step=step, method=method, model=model, prompt=prompt, source_field=field,
                                      start=start, end=end, run_id=run_id))


def _correct(ledger: Ledger, old: Fact, value: str, run_id: str, who: str) -> str:
    from ..ingest import locate

    product = ledger.product(product_id_of(old.subject))
    field, span = None, None
    for name, text in (product.text_fields() if product else {}).items():
        span = locate(text, value)
        if span:
            field = name
            break
    fact = Fact(subject=old.subject, predicate=old.predicate, object=value, confidence=1.0,
                provenance=Provenance(step="review", method="human", run_id=run_id, source_field=field,
                                      start=span[0] if span else None, end=span[1] if span else None))
    with ledger.atomic():
        ledger.add_facts([fact])
        _record(ledger, fact.id, "active", run_id, f"review: correction of {old.id} by {who}")
        _record(ledger, old.id, "rejected", run_id, f"review: corrected to {value!r} by {who}")
    return fact.id


def _record(ledger: Ledger, fact_id: str, status: FactStatus, run_id: str, reason: str) -> None:
    """The fact takes `status`, and the decision is kept in `fact_events` even when the status
    stays as it was, so an accepted fact is known to have been looked at (what wt-api's
    `Ledger.decide` does; use it once that is on main)."""
    with ledger.atomic():
        ledger.db.execute("UPDATE fact_rows SET status=?, status_run_id=? WHERE key=?",
                          (status, run_id, key_of_id(fact_id)))
        ledger.db.execute("INSERT INTO fact_events VALUES (?, ?, ?, ?, ?)",
                          (fact_id, status, run_id, reason, time.time()))
