"""A person's review of the facts most worth a look, and the decisions as training data.

The queue holds attribute facts nobody has reviewed yet: those cleaning flagged (status
`rejected`), those that disagree with another active value of the same product and attribute,
and those of low confidence. A decision is a status change (`Ledger.decide`) made by a
`review` run whose config names the reviewer, kept in `fact_events` with its time: nothing is
deleted. A correction is a new fact (step `review`, method `human`) and rejects the old one.
`export_labelled` writes the reviewed products as OA-Mine lines, which `eval`, `tune` and the
build's `--labelled` read, so corrections become training data.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .models import (ATTRIBUTE_PREFIX, PRODUCT_TYPE, Fact, Product, Provenance, Run, normalise_label,
                     product_id_of)
from .store import Ledger

REVIEW = "review"  # the command of review runs: their fact events are the decisions
LOW_CONFIDENCE = 0.5
Why = Literal["flagged", "conflict", "low_confidence"]
_ORDER: dict[Why, int] = {"flagged": 0, "conflict": 1, "low_confidence": 2}


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
    reviewed = {event["fact_id"] for event in ledger.events_of(REVIEW)}
    facts = [f for f in ledger.facts(status=None) if f.predicate.startswith(ATTRIBUTE_PREFIX) and f.status != "retracted"]
    values: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)  # (subject, predicate) -> norm -> value
    for fact in facts:
        if fact.status == "active":
            values[(fact.subject, fact.predicate)].setdefault(normalise_label(fact.object), fact.object)
    candidates: list[tuple[Why, str, Fact]] = []
    for fact in facts:
        if fact.id in reviewed:
            continue
        others = [v for n, v in values[(fact.subject, fact.predicate)].items() if n != normalise_label(fact.object)]
        if fact.status == "rejected":
            history = ledger.fact_history(fact.id)
            candidates.append(("flagged", (history[-1]["reason"] if history else None) or "rejected", fact))
        elif others:
            candidates.append(("conflict", "other values: " + ", ".join(repr(v) for v in others), fact))
        elif fact.confidence is not None and fact.confidence < threshold:
            candidates.append(("low_confidence", f"confidence {fact.confidence:.2f}", fact))
    candidates.sort(key=_rank)
    items: list[ReviewItem] = []
    for why, detail, fact in candidates[:limit]:
        product = ledger.product(product_id_of(fact.subject))
        if product is not None:
            items.append(ReviewItem(fact=fact, product=product, why=why, detail=detail))
    return items


def _rank(candidate: tuple[Why, str, Fact]) -> tuple:
    """Kind first; a product's conflicting values next to each other; least confident first."""
    why, _, fact = candidate
    together = (fact.subject, fact.predicate) if why == "conflict" else ("", "")
    return (_ORDER[why], *together, 1.0 if fact.confidence is None else fact.confidence)


class Review:
    """One reviewer's session: a `review` run; each decision is recorded as soon as it is made."""

    def __init__(self, ledger: Ledger, who: str):
        self.ledger = ledger
        self.who = who
        self.run = ledger.start_run(REVIEW, {"who": who})
        self.counts = {"accepted": 0, "rejected": 0, "corrected": 0}

    def accept(self, item: ReviewItem) -> None:
        self.ledger.decide(item.fact.id, "active", self.run.id, f"review: accepted by {self.who}")
        self.counts["accepted"] += 1

    def reject(self, item: ReviewItem) -> None:
        self.ledger.decide(item.fact.id, "rejected", self.run.id, f"review: rejected by {self.who}")
        self.counts["rejected"] += 1

    def correct(self, item: ReviewItem, value: str) -> Fact:
        """The right value as a new fact, located in the product's text where it occurs; the old one rejected."""
        value = value.strip()
        if not value:
            raise ValueError("a correction needs a value")
        field, span = _locate(item.product, value)
        fact = Fact(subject=item.fact.subject, predicate=item.fact.predicate, object=value, confidence=1.0,
                    provenance=Provenance(step="review", method="human", run_id=self.run.id, source_field=field,
                                          start=span[0] if span else None, end=span[1] if span else None))
        with self.ledger.atomic():
            self.ledger.add_facts([fact])
            self.ledger.decide(fact.id, "active", self.run.id, f"review: correction of {item.fact.id} by {self.who}")
            self.ledger.decide(item.fact.id, "rejected", self.run.id,
                               f"review: corrected to {value!r} by {self.who}")
        self.counts["corrected"] += 1
        return fact

    def finish(self) -> Run:
        return self.ledger.finish_run(self.run, dict(self.counts))


def _locate(product: Product, value: str) -> tuple[str | None, tuple[int, int] | None]:
    from .ingest import locate

    for field, text in product.text_fields().items():
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
    for event in ledger.events_of(REVIEW):
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
