"""Eval tasks for product type, hypernym placement, applicability, cleaning and synonyms.

Each `evaluate_*` builds its step by name through the registry (baseline, agent or hybrid:
the harness never imports an implementation), trains it on the training input only, and
returns `(metrics, predictions)`: a flat dict and one JSON-able row per test example (`id`,
`pred`, `gold`), ready for `eval.runs.save_run`; scored tasks (cleaning, synonyms) keep the
label in `gold` and the score in `pred`, which is what their PR-curve plots are drawn from.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from shelfgraph.context import StepContext
from shelfgraph.models import TYPE_ATTRIBUTE, Product, TaxonomyNode, normalise_label, path_names
from shelfgraph.registry import create
from shelfgraph.steps import AttributeScore, Pair, RelationQuery

from .datasets import Record, record_to_product
from .metrics import accuracy, aupr, extraction_score, f1_at_threshold, prf

PATH_SEPARATOR = " > "


@contextmanager
def _timed(metrics: dict, key: str) -> Iterator[None]:
    """Seconds spent in the block, rounded, under `key` (train_s, predict_s)."""
    started = time.perf_counter()
    yield
    metrics[key] = round(time.perf_counter() - started, 3)


def _costs(timing: dict, n: int, step: object) -> dict:
    """train_s, predict_s, s_per_item and, for agents and hybrids, how often and how long the
    model ran: what a method costs beside what it scores."""
    return {**timing, "s_per_item": round(timing["predict_s"] / n, 4) if n else None,
            **getattr(step, "stats", dict)()}


def _unlabelled(product: Product) -> Product:
    """What a step may see of a test product: its text, none of its gold."""
    return product.model_copy(update={"product_type": None, "attributes": {}})


# ------------------------------------------------------------------ product type
def map_to_categories(phrases: Sequence[str | None], categories: Sequence[str]) -> list[str | None]:
    """Each phrase's category: one whose name (head word) the phrase contains, else the
    nearest by MiniLM cosine. None for a missing phrase."""
    from shelfgraph.retrieval.embeddings import embed

    heads = {c: normalise_label(c).split()[-1].rstrip("s") for c in categories}
    vectors = embed(list(categories))
    present = [p for p in phrases if p]
    phrase_vectors = dict(zip(present, embed(present)))
    mapped: list[str | None] = []
    for phrase in phrases:
        if not phrase:
            mapped.append(None)
            continue
        words = {w.rstrip("s") for w in normalise_label(phrase).split()}
        lexical = [c for c in categories if heads[c] in words]
        if len(lexical) == 1:
            mapped.append(lexical[0])
        else:
            mapped.append(categories[int((vectors @ phrase_vectors[phrase]).argmax())])
    return mapped


def evaluate_type(
    train: Sequence[Record], test: Sequence[Record], method: str = "baseline",
    context: StepContext | None = None, step_config: dict[str, Any] | None = None,
) -> tuple[dict, list[dict]]:
    """WDC-PAVE ("Product Type" annotated): the extraction score of the type phrase.
    OA-Mine (no phrase annotated): accuracy of the category the phrase maps to."""
    step = create("type", method, context=context, **(step_config or {}))
    timing: dict = {}
    with _timed(timing, "train_s"):
        step.initialize([record_to_product(r) for r in train])
    with _timed(timing, "predict_s"):
        found = step.predict([_unlabelled(record_to_product(r)) for r in test])
    phrases = [e.value if e is not None else None for e in found]
    metrics: dict = {"n": len(test), "coverage": accuracy(sum(p is not None for p in phrases), len(test)),
                     **_costs(timing, len(test), step)}
    rows = [{"id": r.id, "pred": p, "category": r.category} for r, p in zip(test, phrases)]
    if any(TYPE_ATTRIBUTE in r.gold for r in test):
        golds = [{TYPE_ATTRIBUTE: r.gold.get(TYPE_ATTRIBUTE)} for r in test]
        metrics.update(extraction_score(golds, [{TYPE_ATTRIBUTE: p} for p in phrases], [[TYPE_ATTRIBUTE]] * len(test)))
        for row, gold in zip(rows, golds):
            row["gold"] = gold[TYPE_ATTRIBUTE]
    categories = sorted({r.category for r in train})
    mapped = map_to_categories(phrases, categories)
    metrics["category_accuracy"] = accuracy(sum(m == r.category for m, r in zip(mapped, test)), len(test))
    for row, category in zip(rows, mapped):
        row["mapped_category"] = category
    return metrics, rows


# ------------------------------------------------------------------ hypernym placement
def leaves(nodes: Sequence[TaxonomyNode]) -> list[TaxonomyNode]:
    """The nodes that have a parent and no child, in their order."""
    parents = {n.parent for n in nodes if n.parent}
    return [n for n in nodes if n.id not in parents and n.parent]


def sample_leaves(nodes: Sequence[TaxonomyNode], sample: int, seed: int) -> list[TaxonomyNode]:
    """`sample` leaves that have a parent, drawn with `seed` (all of them if fewer)."""
    found = leaves(nodes)
    return random.Random(seed).sample(found, min(sample, len(found)))


def evaluate_hypernym(
    nodes: Sequence[TaxonomyNode], sample: int = 200, seed: int = 0, k: int = 5,
    method: str = "baseline", context: StepContext | None = None, step_config: dict[str, Any] | None = None,
) -> tuple[dict, list[dict]]:
    """Hide sampled leaves, then rank each one's parent among the remaining nodes by name."""
    hidden = sample_leaves(nodes, sample, seed)
    if not hidden:
        raise ValueError("the taxonomy has no leaf with a parent to hide")
    hidden_ids = {n.id for n in hidden}
    step = create("hypernym", method, context=context, **(step_config or {}))
    timing: dict = {}
    with _timed(timing, "train_s"):
        step.initialize([n for n in nodes if n.id not in hidden_ids])
    with _timed(timing, "predict_s"):
        ranked = step.rank([n.name for n in hidden], k=k)
    rows = [{"id": n.id, "name": n.name, "gold": n.parent, "pred": [s.label for s in r]}
            for n, r in zip(hidden, ranked)]
    top1 = sum(bool(row["pred"]) and row["pred"][0] == row["gold"] for row in rows)
    topk = sum(row["gold"] in row["pred"][:k] for row in rows)
    metrics = {"n": len(rows), "top1": accuracy(top1, len(rows)), f"top{k}": accuracy(topk, len(rows)),
               "candidates": len(nodes) - len(hidden), **_costs(timing, len(rows), step)}
    chosen_among = step.candidates([n.name for n in hidden], k=k)
    if chosen_among is not None:  # the step scores a few nodes per name: how often the parent is one
        metrics["recall_candidates"] = accuracy(sum(n.parent in c for n, c in zip(hidden, chosen_among)), len(rows))
        metrics["candidates"] = round(sum(map(len, chosen_among)) / len(rows), 1)
        for row, chosen in zip(rows, chosen_among):
            row["candidates"] = chosen
    return metrics, rows


# ------------------------------------------------------------------ attribute applicability
def hidden_categories(nodes: Sequence[TaxonomyNode], sample: int, seed: int) -> list[TaxonomyNode]:
    """The categories whose attribute lists `evaluate_applicability` hides (and `shelfgraph
    tune relations` leaves out): `sample` of those that list attributes, drawn with `seed`."""
    with_attributes = [n for n in nodes if n.attributes]
    if not with_attributes:
        raise ValueError("no taxonomy node lists attributes (use a Shopify taxonomy folder)")
    return random.Random(seed).sample(with_attributes, min(sample, len(with_attributes)))


def known_categories(nodes: Sequence[TaxonomyNode], hidden_ids: set[str]) -> dict[str, list[str]]:
    """What a relations step learns from: "A > B > name" -> attributes, hidden categories left out."""
    by_id = {n.id: n for n in nodes}
    return {PATH_SEPARATOR.join(path_names(n, by_id)): n.attributes
            for n in nodes if n.attributes and n.id not in hidden_ids}


def category_queries(nodes: Sequence[TaxonomyNode], categories: Sequence[TaxonomyNode]) -> list[RelationQuery]:
    """What a relations step is asked about each of `categories`: its name and its ancestors' names."""
    by_id = {n.id: n for n in nodes}
    return [RelationQuery(type_name=n.name, path=path_names(n, by_id)[:-1]) for n in categories]


def applicability_pairs(gold: Iterable[str], *sides: Sequence[AttributeScore]) -> list[tuple[int, list[float | None]]]:
    """The (category, attribute) pairs `eval applicability` counts for one category: its own
    attributes and every one a side scored, each with its label and each side's score (None
    where that side did not score it)."""
    scored = [{a.attribute: a.applicable for a in side} for side in sides]
    own = set(gold)
    return [(int(attribute in own), [side.get(attribute) for side in scored])
            for attribute in sorted(own.union(*scored))]


def evaluate_applicability(
    nodes: Sequence[TaxonomyNode], sample: int = 200, seed: int = 0, threshold: float = 0.5,
    method: str = "baseline", context: StepContext | None = None, step_config: dict[str, Any] | None = None,
) -> tuple[dict, list[dict]]:
    """Hide the attribute lists of sampled categories and predict them from the category's
    name and path; P/R/F1 over (category, attribute) pairs at `threshold`, and AUPR.

    Known types are keyed "A > B > name" (names repeat across a taxonomy)."""
    hidden = hidden_categories(nodes, sample, seed)
    hidden_ids = {n.id for n in hidden}
    known = known_categories(nodes, hidden_ids)
    step = create("relations", method, context=context, **(step_config or {}))
    timing: dict = {}
    with _timed(timing, "train_s"):
        step.initialize(known, [n for n in nodes if n.id not in hidden_ids])
    with _timed(timing, "predict_s"):
        predicted = step.predict(category_queries(nodes, hidden))
    tp = fp = fn = 0
    labels: list[int] = []
    scores: list[float | None] = []
    rows = []
    for node, attribute_scores in zip(hidden, predicted):
        gold = set(node.attributes)
        chosen = {a.attribute for a in attribute_scores if a.applicable >= threshold}
        tp, fp, fn = tp + len(chosen & gold), fp + len(chosen - gold), fn + len(gold - chosen)
        for label, (score,) in applicability_pairs(gold, attribute_scores):
            labels.append(label)
            scores.append(score)
        rows.append({"id": node.id, "name": node.name, "gold": sorted(gold), "pred": sorted(chosen),
                     "scores": {a.attribute: round(a.applicable, 4) for a in attribute_scores}})
    metrics = {"n": len(hidden), **prf(tp, fp, fn), "aupr": aupr(labels, scores), "threshold": threshold,
               **_costs(timing, len(hidden), step)}
    return metrics, rows


# ------------------------------------------------------------------ data cleaning
def evaluate_cleaning(
    train: Sequence[Record], test: Sequence[Record], corrupt_rate: float = 0.3, seed: int = 0,
    threshold: float = 0.5, method: str = "baseline", context: StepContext | None = None,
    step_config: dict[str, Any] | None = None,
) -> tuple[dict, list[dict]]:
    """Corrupt a share of the test triples, then score how well each is flagged as wrong."""
    from shelfgraph.corruption import corrupt, gold_triples

    labelled = corrupt(gold_triples([record_to_product(r) for r in test]), rate=corrupt_rate, seed=seed)
    if not labelled:
        raise ValueError("the test records have no attribute values to corrupt")
    step = create("cleaning", method, context=context, **(step_config or {}))
    timing: dict = {}
    with _timed(timing, "train_s"):
        step.initialize([record_to_product(r) for r in train])
    # the step sees the product's text and type, never its gold values
    triples = [item.triple.model_copy(update={"product": item.triple.product.model_copy(update={"attributes": {}})})
               for item in labelled]
    with _timed(timing, "predict_s"):
        scores = step.score(triples)
    labels = [int(item.corrupted) for item in labelled]
    metrics = {"n": len(labels), "corrupted": sum(labels), "aupr": aupr(labels, scores),
               **f1_at_threshold(labels, scores, threshold), **_costs(timing, len(labels), step)}
    for kind in ("swap", "other_attribute", "title_span"):
        flagged = [s is not None and s >= threshold for item, s in zip(labelled, scores) if item.kind == kind]
        if flagged:
            metrics[f"recall_{kind}"] = accuracy(sum(flagged), len(flagged))
    rows = [{"id": f"{item.triple.product.id}|{item.triple.attribute}|{i}", "attribute": item.triple.attribute,
             "value": item.triple.value, "kind": item.kind, "original": item.original,
             "gold": int(item.corrupted), "pred": score}
            for i, (item, score) in enumerate(zip(labelled, scores))]
    return metrics, rows


# ------------------------------------------------------------------ synonyms
def evaluate_synonyms(
    test: Sequence[Pair], train: Sequence[Pair] = (), threshold: float = 0.5,
    method: str = "baseline", context: StepContext | None = None, step_config: dict[str, Any] | None = None,
) -> tuple[dict, list[dict]]:
    """Score labelled pairs: AUPR (and its plot) and F1 at `threshold`."""
    labelled = [p for p in test if p.label is not None]
    if not labelled:
        raise ValueError("no labelled test pairs (label column 0 or 1)")
    step = create("synonyms", method, context=context, **(step_config or {}))
    timing: dict = {}
    with _timed(timing, "train_s"):
        step.initialize(list(train))
    with _timed(timing, "predict_s"):
        scores = step.score(labelled)
    labels = [p.label for p in labelled]
    metrics = {"n": len(labels), "positives": sum(labels), "aupr": aupr(labels, scores),
               **f1_at_threshold(labels, scores, threshold), "trained_on": len(train),
               **_costs(timing, len(labels), step)}
    rows = [{"id": i, "a": p.a, "b": p.b, "attribute": p.attribute, "gold": p.label, "pred": s}
            for i, (p, s) in enumerate(zip(labelled, scores))]
    return metrics, rows
