"""A markdown report of saved runs: their metrics side by side, per-attribute scores and plots.

Works for any task: every run contributes its metrics. Extraction runs add per-attribute
P/R/F1 (from the outcomes stored with each prediction) and a precision-recall curve of the
extracted values by confidence. Runs of other tasks whose prediction rows carry `label`
(0/1) and `score` get a precision-recall curve too.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from .metrics import plot_pr_curves, pyplot, score_counts
from .runs import SavedRun

HEADLINE = ("precision", "recall", "f1", "accuracy", "aupr", "items_per_s")


def attribute_scores(predictions: Sequence[dict]) -> dict[tuple[str, str], dict]:
    """Extraction score per (category, attribute) from each row's `outcomes`."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in predictions:
        for attribute, outcome in row.get("outcomes", {}).items():
            counts[(row.get("category", ""), attribute)][outcome] += 1
    return {key: score_counts(c) for key, c in sorted(counts.items())}


def confidence_curve(predictions: Sequence[dict]) -> tuple[list[int], list[float | None]]:
    """(correct?, confidence) of every scored value a method extracted (VC, VW or NV)."""
    labels, scores = [], []
    for row in predictions:
        spans = row.get("spans", {})
        for attribute, outcome in row.get("outcomes", {}).items():
            if outcome in ("VC", "VW", "NV"):
                labels.append(int(outcome == "VC"))
                scores.append(spans.get(attribute, {}).get("confidence"))
    return labels, scores


def decision_curve(predictions: Sequence[dict]) -> tuple[list[int], list[float | None]] | None:
    """(label, score) of scored yes/no decisions: rows with `label` and `score`, or the rows eval
    saves for cleaning and synonyms (`gold` 0/1, `pred` the score)."""
    pairs = [(r["label"], r["score"]) if "label" in r else (r.get("gold"), r.get("pred")) for r in predictions]
    scored = [(int(y), s) for y, s in pairs
              if y in (0, 1) and (s is None or isinstance(s, (int, float)))]
    return ([y for y, _ in scored], [s for _, s in scored]) if scored else None


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return "" if value is None else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _label(run: SavedRun) -> str:
    method = run.config.get("method", "")
    return f"{run.id} {run.task}/{method}".strip()


def write_report(runs: Sequence[SavedRun], out: Path) -> Path:
    """Write `out` (markdown) and its PNGs in `<out stem>_files/` beside it."""
    out = Path(out)
    figures = out.parent / f"{out.stem}_files"
    lines = [f"# Eval report: {len(runs)} run(s)", ""]
    names = [k for k in HEADLINE if any(k in r.metrics for r in runs)]
    lines += ["## Runs", ""]
    lines += _table(["run", "task", "method", "model", "prompt", *names],
                    [[r.id, r.task, r.config.get("method"), r.extra.get("model"), r.extra.get("prompt"),
                      *(r.metrics.get(k) for k in names)] for r in runs])
    lines.append("")
    for run in runs:
        lines.append(f"- `{run.id}` config: `{json.dumps(run.config, default=str)}`")
    lines.append("")

    extraction = [r for r in runs if r.task == "extraction"]
    if extraction:
        per_run = [attribute_scores(r.predictions) for r in extraction]
        keys = sorted(set().union(*per_run))
        lines += ["## Per attribute (extraction score, %)", ""]
        if len(extraction) == 1:
            rows = [[c, a, s["precision"], s["recall"], s["f1"], s["VC"] + s["VW"] + s["VN"] + s["NV"] + s["NN"]]
                    for (c, a), s in per_run[0].items()]
            lines += _table(["category", "attribute", "P", "R", "F1", "n"], rows)
        else:
            rows = [[c, a, *(scores.get((c, a), {}).get("f1") for scores in per_run)] for c, a in keys]
            lines += _table(["category", "attribute", *(f"F1 {r.id}" for r in extraction)], rows)
        lines.append("")
        figures.mkdir(parents=True, exist_ok=True)
        png = _plot_attribute_f1(extraction, per_run, figures / "attribute_f1.png")
        lines += [f"![F1 per attribute]({png.relative_to(out.parent).as_posix()})", ""]
        curves = {_label(r): confidence_curve(r.predictions) for r in extraction}
        curves = {k: v for k, v in curves.items() if any(s is not None for s in v[1])}
        if curves:
            png = plot_pr_curves(curves, figures / "extraction_pr.png")
            lines += ["Precision-recall of extracted values by confidence:", "",
                      f"![PR curves]({png.relative_to(out.parent).as_posix()})", ""]

    decisions = {_label(r): c for r in runs if r.task != "extraction" and (c := decision_curve(r.predictions))}
    if decisions:
        figures.mkdir(parents=True, exist_ok=True)
        png = plot_pr_curves(decisions, figures / "decisions_pr.png")
        lines += ["## Scored decisions", "", f"![PR curves]({png.relative_to(out.parent).as_posix()})", ""]

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def _plot_attribute_f1(runs: Sequence[SavedRun], per_run: Sequence[dict], path: Path) -> Path:
    plt = pyplot()
    attributes = sorted({a for scores in per_run for _, a in scores})
    figure, axes = plt.subplots(figsize=(max(6.0, 0.35 * len(attributes) * len(runs)), 4))
    width = 0.8 / len(runs)
    for k, (run, scores) in enumerate(zip(runs, per_run)):
        by_attribute: dict[str, Counter] = defaultdict(Counter)
        for (_, attribute), s in scores.items():
            by_attribute[attribute].update({o: s[o] for o in ("NN", "NV", "VN", "VC", "VW")})
        f1 = [score_counts(by_attribute[a])["f1"] for a in attributes]
        axes.bar([i + k * width for i in range(len(attributes))], f1, width, label=_label(run))
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(attributes))], attributes, rotation=60, ha="right",
                    fontsize="small")
    axes.set(ylabel="F1 (%)", ylim=(0, 100), title="F1 per attribute (all categories)")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
