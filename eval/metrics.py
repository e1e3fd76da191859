"""Scorers: pure functions over gold and predicted values that return flat dicts.

`extraction_score` is the attribute-value extraction protocol of the published LLM extraction
papers (ExtractGPT), in percent rounded to two decimals like the numbers it must reproduce.
Everything else (`prf`, `accuracy`, `f1_at_threshold`, `pr_curve`, `aupr`) returns fractions
in [0, 1], unrounded. Scores may be None (the step could not score): they rank lowest and
never count as a positive decision.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Collection, Mapping, Sequence

from shelfgraph.extras import require
from shelfgraph.models import is_no_value

Gold = Mapping[str, Sequence[str] | None]  # attribute -> gold values, None = n/a
Prediction = Mapping[str, str | None]  # attribute -> predicted value, None/"n/a" = no value

OUTCOMES = ("NN", "NV", "VN", "VC", "VW")


def extraction_outcomes(gold: Gold, pred: Prediction, known: Collection[str]) -> dict[str, str]:
    """Outcome (NN, NV, VN, VC, VW) of each known attribute that the gold record lists.

    Attributes the gold record does not list are not scored, whatever is predicted for them.
    """
    outcomes: dict[str, str] = {}
    for attribute in known:
        if attribute not in gold:
            continue
        values = gold[attribute]
        targets = {v.strip() for v in values or () if not is_no_value(v)}
        predicted = pred.get(attribute)
        if is_no_value(predicted):
            outcomes[attribute] = "VN" if targets else "NN"
        elif not targets:
            outcomes[attribute] = "NV"
        else:
            outcomes[attribute] = "VC" if predicted.strip() in targets else "VW"
    return outcomes


def score_counts(counts: Mapping[str, int]) -> dict:
    """Micro precision, recall and F1 in percent from NN/NV/VN/VC/VW counts."""
    vc, vw = counts.get("VC", 0), counts.get("VW", 0)
    predicted = counts.get("NV", 0) + vc + vw
    expected = counts.get("VN", 0) + vc + vw
    precision = vc / predicted if predicted else 0.0
    recall = vc / expected if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(100 * precision, 2),
        "recall": round(100 * recall, 2),
        "f1": round(100 * f1, 2),
        **{outcome: int(counts.get(outcome, 0)) for outcome in OUTCOMES},
    }


def extraction_score(
    golds: Sequence[Gold], preds: Sequence[Prediction], known: Sequence[Collection[str]]
) -> dict:
    """The extraction score over aligned examples; `known[i]` = attributes known for the
    category of example i (every attribute named in that category's gold records)."""
    if not len(golds) == len(preds) == len(known):
        raise ValueError(f"lengths differ: {len(golds)} golds, {len(preds)} preds, {len(known)} known")
    counts: Counter[str] = Counter()
    for gold, pred, attributes in zip(golds, preds, known):
        counts.update(extraction_outcomes(gold, pred, attributes).values())
    return score_counts(counts)


def prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def accuracy(correct: int, total: int) -> float:
    return correct / total if total else 0.0


def _ranked(labels: Sequence[int | bool], scores: Sequence[float | None]) -> list[tuple[float, bool]]:
    if len(labels) != len(scores):
        raise ValueError(f"lengths differ: {len(labels)} labels, {len(scores)} scores")
    pairs = [(float("-inf") if s is None else float(s), bool(y)) for y, s in zip(labels, scores)]
    return sorted(pairs, key=lambda pair: pair[0], reverse=True)


def pr_curve(
    labels: Sequence[int | bool], scores: Sequence[float | None]
) -> tuple[list[float], list[float], list[float]]:
    """Precision and recall of "positive when score >= t" for each distinct score t, from
    the highest threshold down (None scores rank lowest, at t = -inf)."""
    ranked = _ranked(labels, scores)
    positives = sum(label for _, label in ranked)
    precision: list[float] = []
    recall: list[float] = []
    thresholds: list[float] = []
    tp = 0
    for i, (score, label) in enumerate(ranked):
        tp += label
        if i + 1 < len(ranked) and ranked[i + 1][0] == score:
            continue  # ties share one threshold
        precision.append(tp / (i + 1))
        recall.append(tp / positives if positives else 0.0)
        thresholds.append(score)
    return precision, recall, thresholds


def aupr(labels: Sequence[int | bool], scores: Sequence[float | None]) -> float:
    """Area under the precision-recall curve as average precision (step-wise, no
    interpolation): sum over thresholds of precision x recall gained. 0.0 without positives."""
    precision, recall, _ = pr_curve(labels, scores)
    area, previous = 0.0, 0.0
    for p, r in zip(precision, recall):
        area += (r - previous) * p
        previous = r
    return area


def f1_at_threshold(
    labels: Sequence[int | bool], scores: Sequence[float | None], threshold: float = 0.5
) -> dict:
    """prf and accuracy of deciding "positive" when score >= threshold (None: negative)."""
    if len(labels) != len(scores):
        raise ValueError(f"lengths differ: {len(labels)} labels, {len(scores)} scores")
    counts: Counter[tuple[bool, bool]] = Counter(
        (bool(y), s is not None and s >= threshold) for y, s in zip(labels, scores)
    )
    tp, fp, fn = counts[(True, True)], counts[(False, True)], counts[(True, False)]
    correct = tp + counts[(False, False)]
    return {**prf(tp, fp, fn), "accuracy": accuracy(correct, len(labels)), "threshold": threshold}


def pyplot():
    """matplotlib's pyplot drawing to files (no screen here), or a one-line error without the extra."""
    require("plots", "charts")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(curves: Mapping[str, tuple[Sequence[int | bool], Sequence[float | None]]], path: Path) -> Path:
    """One PNG with a precision-recall curve per named (labels, scores), AUPR in the legend."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5, 4))
    for name, (labels, scores) in curves.items():
        precision, recall, _ = pr_curve(labels, scores)
        axes.step([0.0, *recall], [precision[0] if precision else 1.0, *precision], where="post",
                  label=f"{name} (AUPR {aupr(labels, scores):.3f})")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    axes.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path

