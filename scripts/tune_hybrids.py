"""Choose the hybrids' settings on a validation split of TRAIN (never on test).

    python scripts/tune_hybrids.py extraction --train ../shared/data/oa-mine/train.jsonl --limit 150
    python scripts/tune_hybrids.py cleaning --train ../shared/data/oa-mine/train.jsonl --limit 120
    python scripts/tune_hybrids.py synonyms --train out/pairs/train.csv --limit 150
    python scripts/tune_hybrids.py cleaning --train ../shared/data/oa-mine/train.jsonl --adapter DIR
    python scripts/tune_hybrids.py hypernym --taxonomy ../shared/data/taxonomy/shopify --adapter DIR
    python scripts/tune_hybrids.py relations --taxonomy ../shared/data/taxonomy/shopify --adapter DIR \
        --limit 50 --hide-sample 400 --hide-seed 0

    python scripts/tune_hybrids.py extraction --train ../shared/data/oa-mine/train.jsonl --adapter DIR \
        --valid-share 0.2 --valid-seed 0

With `--adapter` (an agent tuned by `shelfgraph tune` on the same fit part: every record but
each 5th; for extraction, with `--valid-share S --valid-seed N`, the part `shelfgraph tune
--valid-share S --seed N` trained on, so the validation items are the ones its adapter never
saw) the agent prompts zero-shot; cleaning and synonyms also get a stack (a logistic
regression on both scores, `shelfgraph.stacking`) fitted on the validation items, printed as
the `--set stack=...` value the hybrid takes. Hypernym takes a stack only (`hypernym` below);
relations (applicability) fits one with or without an adapter (`relations` below).

TRAIN is split by position (every 5th record is validation; or as `--valid-share` says).
Both parts are trained on the rest; the agent is asked once on the validation items and every candidate setting is scored
from those answers, combined by the hybrids' own functions (`hybrids/combine.py`). For
extraction the agent is asked the hybrid's questions at the highest candidate threshold; a
lower threshold keeps the answers about the attributes the baseline is unsure of at it (an
approximation: at a lower threshold the hybrid would give the agent a few more values).
Prints one JSON line per setting and the best last.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shelfgraph.eval.metrics import aupr, extraction_score, f1_at_threshold  # noqa: E402
from shelfgraph.hybrids.combine import (accept_answers, attribute_shares, blend, imputation_questions,  # noqa: E402
                             unsure)
from shelfgraph.context import StepContext  # noqa: E402
from shelfgraph.registry import create  # noqa: E402
from shelfgraph.stacking import fit_stack  # noqa: E402
from shelfgraph.tuning.split import valid_split  # noqa: E402

THRESHOLDS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9)
AGENT_THRESHOLDS = (0.0, 0.2, 0.4, 0.6)
WEIGHTS = tuple(round(w / 10, 1) for w in range(11))

app = typer.Typer(add_completion=False)


def split(items: Sequence[Any], valid_share: float | None = None, valid_seed: int = 0) -> tuple[list[Any], list[Any]]:
    """(fit, validation): every 5th item held out, or, with `valid_share`, the items `shelfgraph
    tune --valid-share VALID_SHARE --seed VALID_SEED` held out (those its adapter never saw)."""
    if valid_share is not None:
        return valid_split(items, valid_share, valid_seed)
    return [x for i, x in enumerate(items) if i % 5], [x for i, x in enumerate(items) if i % 5 == 0]


def spread(items: Sequence[Any], limit: int) -> list[Any]:
    """`limit` items evenly spaced over `items` (files are grouped by attribute or product)."""
    return list(items[:: max(1, len(items) // limit)])[:limit]


def _emit(row: dict) -> None:
    typer.echo(json.dumps(row))


@app.command()
def extraction(train: Path = typer.Option(...), limit: int = 150, prompt: str = "imputation@v2",
               demos: str = "type", min_share: float = 0.3, adapter: Optional[str] = None,
               valid_share: Optional[float] = None, valid_seed: int = 0) -> None:
    from shelfgraph.eval.datasets import known_attributes, load_records, record_to_product

    fit, validation = split(load_records(train), valid_share, valid_seed)
    validation = spread(validation, limit)
    context = StepContext()
    baseline = create("imputation", "baseline", context=context)
    agent = create("imputation", "agent", context=context, prompt=prompt, demos=demos,
                   **({"adapter": adapter} if adapter else {}))
    products = [record_to_product(r) for r in fit]
    baseline.initialize(products)
    agent.initialize(products)
    wanted = [known_attributes(fit).get(r.category, []) for r in validation]
    scored = known_attributes(validation)
    unlabelled = [record_to_product(r).model_copy(update={"attributes": {}}) for r in validation]
    found = [{e.attribute: e for e in f} for f in baseline.predict(unlabelled, wanted)]
    questions = imputation_questions(unlabelled, wanted, found, max(THRESHOLDS), attribute_shares(products), min_share)
    started = time.perf_counter()
    answers = agent.predict([q.product for q in questions], [q.attributes for q in questions])
    seconds = time.perf_counter() - started
    by_product = {q.index: a for q, a in zip(questions, answers)}
    best = None
    for threshold in THRESHOLDS:
        for agent_threshold in AGENT_THRESHOLDS:
            preds = []
            for i in range(len(validation)):
                asked = [e for e in by_product.get(i, []) if unsure(found[i].get(e.attribute), threshold)]
                preds.append({a: e.value for a, e in accept_answers(found[i], asked, agent_threshold).items()})
            metrics = extraction_score([r.gold for r in validation], preds, [scored[r.category] for r in validation])
            row = {"threshold": threshold, "agent_threshold": agent_threshold, "f1": metrics["f1"],
                   "precision": metrics["precision"], "recall": metrics["recall"]}
            _emit(row)
            best = row if best is None or row["f1"] > best["f1"] else best
    baseline_only = extraction_score([r.gold for r in validation], [{a: e.value for a, e in f.items()} for f in found],
                                     [scored[r.category] for r in validation])
    _emit({"baseline_f1": baseline_only["f1"], "validation": len(validation), "asked": len(questions),
           "agent_s_per_asked": round(seconds / max(len(questions), 1), 2), "best": best})


def _best_weight(labels: list[int], agent: list[float | None], baseline: list[float | None]) -> dict:
    """The weight with the best F1 at the 0.5 threshold the evals report, then the best AUPR
    (a blend that ranks well but moves scores across 0.5 is no good as a decision)."""
    best = None
    for weight in WEIGHTS:
        blended = [blend(a, b, weight) for a, b in zip(agent, baseline)]
        row = {"weight": weight, "f1": round(f1_at_threshold(labels, blended, 0.5)["f1"], 4),
               "aupr": round(aupr(labels, blended), 4)}
        _emit(row)
        best = row if best is None or (row["f1"], row["aupr"]) > (best["f1"], best["aupr"]) else best
    return best


@app.command()
def cleaning(train: Path = typer.Option(...), limit: int = 120, prompt: str = "cleaning@v2", seed: int = 0,
             adapter: Optional[str] = None) -> None:
    from shelfgraph.corruption import corrupt, gold_triples
    from shelfgraph.eval.datasets import load_records, record_to_product

    fit, validation = split([record_to_product(r) for r in load_records(train)])
    labelled = spread(corrupt(gold_triples(validation), rate=0.3, seed=seed), limit)
    triples = [item.triple.model_copy(update={"product": item.triple.product.model_copy(update={"attributes": {}})})
               for item in labelled]
    labels = [int(item.corrupted) for item in labelled]
    _emit({**_choose_weight("cleaning", prompt, fit, triples, labels, adapter), "corrupted": sum(labels)})


@app.command()
def synonyms(train: Path = typer.Option(...), limit: int = 150, prompt: str = "synonyms@v2",
             adapter: Optional[str] = None) -> None:
    from shelfgraph.eval.pairs import read_pairs

    fit, validation = split(read_pairs(train))
    validation = spread([p for p in validation if p.label is not None], limit)
    _emit(_choose_weight("synonyms", prompt, fit, validation, [p.label for p in validation], adapter))


def _choose_weight(kind: str, prompt: str, fit: list, items: list, labels: list[int],
                   adapter: str | None = None) -> dict:
    """Score the validation items with both parts of a scored hybrid; pick the blend weight
    and fit the stack."""
    context = StepContext()
    baseline = create(kind, "baseline", context=context)
    agent = create(kind, "agent", context=context, prompt=prompt, **({"adapter": adapter} if adapter else {}))
    baseline.initialize(fit)
    agent.initialize(fit)
    b_scores = baseline.score(items)
    started = time.perf_counter()
    a_scores = agent.score(items)
    seconds = time.perf_counter() - started
    stack = fit_stack(labels, a_scores, b_scores, aupr)
    stacked = [stack(a, b) for a, b in zip(a_scores, b_scores)]
    return {"validation": len(items), "agent_s_per_item": round(seconds / len(items), 2),
            "agent_aupr": round(aupr(labels, a_scores), 4), "baseline_aupr": round(aupr(labels, b_scores), 4),
            "stack": stack.model_dump(), "stack_aupr": round(aupr(labels, stacked), 4),
            "stack_f1": round(f1_at_threshold(labels, stacked, 0.5)["f1"], 4),
            "best": _best_weight(labels, a_scores, b_scores)}


@app.command()
def hypernym(taxonomy: Path = typer.Option(...), adapter: str = typer.Option(...), hide_sample: int = 400,
             test_sample: int = 200, seed: int = 0, limit: int = 100, k: int = 5) -> None:
    """The stack of the hypernym hybrid, fitted on leaves that are neither tuned nor tested on:
    those `shelfgraph tune hypernym --hide-sample HIDE_SAMPLE --hide-seed SEED` hid that `eval
    hypernym --sample TEST_SAMPLE --seed SEED` does not test on (`held_out_split`), the first
    LIMIT of them. Both parts know the taxonomy without any hidden leaf, as the tuned agent did.
    Every candidate of the hybrid (the agent's and the baseline's top K) is scored by both
    sides; the stack is kept if it puts the parent first at least as often as the baseline."""
    from shelfgraph.eval.tasks import sample_leaves
    from shelfgraph.ingest import taxonomy_nodes

    nodes = taxonomy_nodes(taxonomy)
    hidden, validation = held_out_split(sample_leaves, nodes, hide_sample, seed, test_sample)
    validation = validation[:limit]
    hybrid = create("hypernym", "hybrid", context=StepContext(), adapter=adapter)
    hybrid.initialize([n for n in nodes if n.id not in hidden])
    names = [n.name for n in validation]
    candidates = hybrid.candidates(names, k)
    agent, baseline = hybrid.both("score", names, candidates)
    sizes = [len(c) for c in candidates]
    labels = [int(c == n.parent) for n, ids in zip(validation, candidates) for c in ids]
    a_scores, b_scores = [s for row in agent for s in row], [s for row in baseline for s in row]

    def top1(labels: Sequence[int], scores: Sequence[float | None]) -> float:
        """The share of names whose best-scored candidate is the parent."""
        hits, start = 0, 0
        for size in sizes:
            best = max(range(start, start + size), key=lambda i: scores[i] if scores[i] is not None else -1.0)
            hits += labels[best] if size else 0
            start += size
        return hits / len(sizes)

    stack = fit_stack(labels, a_scores, b_scores, top1)
    _emit({"validation": len(validation), "recall_candidates": round(sum(labels) / len(validation), 4),
           "candidates": round(sum(sizes) / len(sizes), 1), **hybrid.stats(),
           "agent_top1": round(top1(labels, a_scores), 4), "baseline_top1": round(top1(labels, b_scores), 4),
           "stack": stack.model_dump(), "stack_top1": round(top1(labels, [stack(a, b) for a, b in
                                                                         zip(a_scores, b_scores)]), 4)})


def held_out_split(draw: Callable[[Sequence[Any], int, int], list[Any]], nodes: Sequence[Any], hide_sample: int,
                   hide_seed: int, test_sample: int) -> tuple[set[str], list[Any]]:
    """(hidden ids, validation nodes): the nodes `draw` (the eval's own: `hidden_categories`,
    `sample_leaves`) hides for `shelfgraph tune --hide-sample HIDE_SAMPLE --hide-seed HIDE_SEED`
    are hidden; those of them the eval's `--sample TEST_SAMPLE --seed HIDE_SEED` does not test on
    are validation, taken out by id (a smaller `random.sample` draw is not always a prefix of a
    larger one)."""
    drawn = draw(nodes, hide_sample, hide_seed)
    tested = {n.id for n in draw(nodes, test_sample, hide_seed)}
    return {n.id for n in drawn}, [n for n in drawn if n.id not in tested]


@app.command()
def relations(taxonomy: Path = typer.Option(...), adapter: Optional[str] = None, prompt: Optional[str] = None,
              limit: int = 50, hide_sample: int = 400, hide_seed: int = 0, test_sample: int = 200) -> None:
    """The stack of the relations hybrid's applicability, fitted on the first LIMIT validation
    categories (`held_out_split`: neither tuned nor tested on) by F1 at 0.5, the decision the
    eval reports; both parts know the taxonomy without any hidden category, as the tuned agent
    did. Each category's pairs are the attributes either side scored and its own (gold), as
    `eval applicability` counts them; a side that did not score an attribute has no score."""
    from shelfgraph.eval.tasks import applicability_pairs, category_queries, hidden_categories, known_categories
    from shelfgraph.ingest import taxonomy_nodes

    nodes = taxonomy_nodes(taxonomy)
    hidden, validation = held_out_split(hidden_categories, nodes, hide_sample, hide_seed, test_sample)
    validation = validation[:limit]
    hybrid = create("relations", "hybrid", context=StepContext(), prompt=prompt, adapter=adapter)
    hybrid.initialize(known_categories(nodes, hidden), [n for n in nodes if n.id not in hidden])
    agent, baseline = hybrid.both("predict", category_queries(nodes, validation))
    labels: list[int] = []
    a_scores: list[float | None] = []
    b_scores: list[float | None] = []
    for node, a_row, b_row in zip(validation, agent, baseline):
        for label, (a, b) in applicability_pairs(node.attributes, a_row, b_row):
            labels.append(label)
            a_scores.append(a)
            b_scores.append(b)

    def f1(labels: Sequence[int], scores: Sequence[float | None]) -> float:
        return f1_at_threshold(labels, scores, 0.5)["f1"]

    stack = fit_stack(labels, a_scores, b_scores, f1)
    stacked = [stack(a, b) for a, b in zip(a_scores, b_scores)]
    _emit({"validation": len(validation), "pairs": len(labels), "positives": sum(labels), **hybrid.stats(),
           "agent_f1": round(f1(labels, a_scores), 4), "agent_aupr": round(aupr(labels, a_scores), 4),
           "baseline_f1": round(f1(labels, b_scores), 4), "baseline_aupr": round(aupr(labels, b_scores), 4),
           "stack": stack.model_dump(),
           "stack_f1": round(f1(labels, stacked), 4), "stack_aupr": round(aupr(labels, stacked), 4),
           "best": _best_weight(labels, a_scores, b_scores)})
    typer.echo(f"eval applicability --method hybrid --set 'stack={json.dumps(stack.model_dump())}'", err=True)


if __name__ == "__main__":
    app()
