"""A person's review of the facts most worth a look, and the decisions as training data.

The queue holds attribute facts nobody has reviewed yet: those cleaning flagged (status
`rejected`), those that disagree with another active value of the same product and attribute,
and those of low confidence. It is selected in SQL, so a queue over a million facts costs a
few indexed queries and one page of facts, not a scan of every fact in Python. A decision is
a status change (`Ledger.decide`) made by a `review` run whose config names the reviewer,
kept in `fact_events` with its time: nothing is deleted. A correction is a new fact (step
`review`, method `human`) and rejects the old one. The `review` command and the web page
(shelfgraph/web/review.py) both decide through `decide_fact`. `export_labelled` writes the
reviewed products as OA-Mine lines, which `eval`, `tune` and the build's `--labelled` read,
so corrections become training data.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .models import (ATTRIBUTE_PREFIX, PRODUCT_TYPE, Fact, Product, Provenance, Run, key_of_id, normalise_label,
                     product_id_of)
from .store import REVIEW_COMMAND, Ledger

LOW_CONFIDENCE = 0.5
Why = Literal["flagged", "conflict", "low_confidence"]
Action = Literal["accept", "reject", "correct"]

_FACT = ("SELECT f.rowid, f.key, s.text, p.text, o.text, f.confidence, f.status, v.step, v.method, v.model, "
         "v.prompt, v.source_field, f.start, f.\"end\", v.run_id FROM fact_rows f JOIN terms s ON s.id = f.subject "
         "JOIN terms p ON p.id = f.predicate JOIN terms o ON o.id = f.object JOIN provenance v ON v.id = f.provenance ")
_ATTRIBUTE = "predicate IN (SELECT id FROM terms WHERE text >= 'attr:' AND text < 'attr;')"  # attr:*
# (subject, predicate) of products with active values of an attribute that differ by more than
# case and spacing (`normalise_label`, registered as `sg_norm`), by subject and attribute name;
# the text is compared only where the interned values already differ. The attribute facts are
# read by one sequential scan (NOT INDEXED): through the predicate index each is a random read
# of its row (26.9 s for the queue at 1M facts, 10.7 s with it, docs/benchmarks.md).
_CONFLICTING = (
    "SELECT f.subject, f.predicate FROM fact_rows f JOIN terms o ON o.id = f.object "
    "JOIN terms s ON s.id = f.subject JOIN terms p ON p.id = f.predicate "
    "WHERE f.status = 'active' AND (f.subject, f.predicate) IN (SELECT subject, predicate FROM fact_rows NOT INDEXED "
    f"WHERE status = 'active' AND {_ATTRIBUTE} GROUP BY subject, predicate HAVING MIN(object) < MAX(object)) "
    "GROUP BY f.subject, f.predicate HAVING COUNT(DISTINCT sg_norm(o.text)) > 1 ORDER BY s.text, p.text")


class ReviewItem(BaseModel):
    """A fact in the queue, the product it is about, and why it is there."""

    fact: Fact
    product: Product
    why: Why
    detail: str  # what a person reads: the cleaning's reason, the other values, the confidence

    @property
    def attribute(self) -> str:
        return self.fact.predicate[len(ATTRIBUTE_PREFIX):]


def review_queue(ledger: Ledger, threshold: float = LOW_CONFIDENCE, limit: int | None = None) -> list[ReviewItem]:
    """Unreviewed attribute facts worth a look, flagged first, then conflicting values (side
    by side), then confidence below `threshold`, least confident first."""
    return queue_items(ledger, queue_order(ledger, threshold)[:limit])


def queue_order(ledger: Ledger, threshold: float = LOW_CONFIDENCE) -> list[tuple[int, Why]]:
    """The whole queue as (fact row id, why), in review order; pages are slices of it
    (`queue_items`). One pass over the attribute facts: keep it while the store is unchanged.
    Within a kind the least confident come first; a product's conflicting values are together."""
    db = ledger.db
    db.create_function("sg_norm", 1, normalise_label, deterministic=True)
    reviewed = {key_of_id(r[0]) for r in db.execute(
        "SELECT e.fact_id FROM fact_events e JOIN runs r ON r.id = e.run_id WHERE r.command = ?",
        (REVIEW_COMMAND,))}
    conflicts = db.execute(_CONFLICTING).fetchall()
    conflicting = set(conflicts)
    order: list[tuple[int, Why]] = []
    flagged = db.execute(f"SELECT rowid, key FROM fact_rows WHERE status = 'rejected' AND {_ATTRIBUTE} "
                         "ORDER BY coalesce(confidence, 1.0), rowid")
    order += [(rowid, "flagged") for rowid, key in flagged if key not in reviewed]
    for subject, predicate in conflicts:
        rows = db.execute("SELECT rowid, key FROM fact_rows WHERE subject = ? AND predicate = ? AND status = 'active' "
                          "ORDER BY coalesce(confidence, 1.0), rowid", (subject, predicate))
        order += [(rowid, "conflict") for rowid, key in rows if key not in reviewed]
    low = db.execute(f"SELECT rowid, key, subject, predicate FROM fact_rows NOT INDEXED WHERE status = 'active' "
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
        others: dict[str, str] = {}  # normalised -> the first value written so
        for other in ledger.facts(subject=fact.subject, predicate=fact.predicate):
            if normalise_label(other.object) != normalise_label(fact.object):
                others.setdefault(normalise_label(other.object), other.object)
        detail = "other values: " + ", ".join(repr(v) for v in others.values())
    else:
        detail = f"confidence {fact.confidence:.2f}"
    return ReviewItem(fact=fact, product=product, why=why, detail=detail)


def fact_by_id(ledger: Ledger, fact_id: str) -> Fact:
    """One fact, whatever its status; KeyError for an id that is malformed or not in the store."""
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


def correction_value(value: str) -> str:
    """The value a correction stores; a blank one is refused (ValueError) before anything is written."""
    value = value.strip()
    if not value:
        raise ValueError("a correction needs a value")
    return value


def decide_fact(ledger: Ledger, action: Action, fact: Fact, run_id: str, who: str, value: str = "") -> Fact:
    """One decision on `fact` in the `review` run `run_id`; returns the fact now standing (the
    new fact of a correction). Accept keeps it active and records the event; reject marks it
    rejected; correct stores `value` as a new fact, located in the product's text where it
    occurs, and rejects the old one."""
    if action == "accept":
        ledger.decide(fact.id, "active", run_id, f"review: accepted by {who}")
        return fact
    if action == "reject":
        ledger.decide(fact.id, "rejected", run_id, f"review: rejected by {who}")
        return fact
    value = correction_value(value)
    field, span = _locate(ledger.product(product_id_of(fact.subject)), value)
    new = Fact(subject=fact.subject, predicate=fact.predicate, object=value, confidence=1.0,
               provenance=Provenance(step="review", method="human", run_id=run_id, source_field=field,
                                     start=span[0] if span else None, end=span[1] if span else None))
    with ledger.atomic():
        ledger.add_facts([new])
        ledger.decide(new.id, "active", run_id, f"review: correction of {fact.id} by {who}")
        ledger.decide(fact.id, "rejected", run_id, f"review: corrected to {value!r} by {who}")
    return new


class Review:
    """One reviewer's session: a `review` run; each decision is recorded as soon as it is made."""

    def __init__(self, ledger: Ledger, who: str):
        self.ledger = ledger
        self.who = who
        self.run = ledger.start_run(REVIEW_COMMAND, {"who": who})
        self.counts = {"accepted": 0, "rejected": 0, "corrected": 0}

    def accept(self, item: ReviewItem) -> None:
        decide_fact(self.ledger, "accept", item.fact, self.run.id, self.who)
        self.counts["accepted"] += 1

    def reject(self, item: ReviewItem) -> None:
        decide_fact(self.ledger, "reject", item.fact, self.run.id, self.who)
        self.counts["rejected"] += 1

    def correct(self, item: ReviewItem, value: str) -> Fact:
        """The right value as a new fact; the old one rejected."""
        fact = decide_fact(self.ledger, "correct", item.fact, self.run.id, self.who, value)
        self.counts["corrected"] += 1
        return fact

    def finish(self) -> Run:
        return self.ledger.finish_run(self.run, dict(self.counts))


def _locate(product: Product | None, value: str) -> tuple[str | None, tuple[int, int] | None]:
    from .ingest import locate

    for field, text in (product.text_fields() if product else {}).items():
        span = locate(text, value)
        if span:
            return field, span
    return None, None


def export_labelled(ledger: Ledger, path: str | Path) -> int:
    """Every product with a reviewed fact as an OA-Mine line (`input`, `category`,
    `target_scores`): the catalogue's own values and the values reviewers accepted or
    entered, nothing they rejected. Returns how many products were written; a product with
    no type (in the catalogue or found by a build) cannot be a labelled example and is left out."""
    decided: dict[str, str] = {}
    for event in ledger.events_of(REVIEW_COMMAND):
        decided[event["fact_id"]] = event["status"]  # the latest decision counts
    facts = ledger.facts(status=None)
    subjects = {f.subject for f in facts if f.id in decided}
    by_subject: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        if fact.subject in subjects and fact.status == "active":
            by_subject[fact.subject].append(fact)
    lines = []
    for subject in sorted(subjects):
        product = ledger.product(product_id_of(subject))
        types = [f.object for f in by_subject[subject] if f.predicate == PRODUCT_TYPE]
        category = (product.product_type if product else None) or (types[0] if types else None)
        if product is None or category is None:
            continue
        gold: dict[str, dict[str, int]] = defaultdict(dict)
        for fact in by_subject[subject]:
            if fact.predicate.startswith(ATTRIBUTE_PREFIX) and (
                    decided.get(fact.id) == "active" or fact.provenance.step == "ingest"):
                gold[fact.predicate[len(ATTRIBUTE_PREFIX):]][fact.object] = 1
        lines.append(json.dumps({"id": product.id, "input": product.title, "category": category,
                                 "target_scores": {a: gold[a] for a in sorted(gold)}}, ensure_ascii=False))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
