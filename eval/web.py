"""The web pages of saved eval runs (`shelfgraph eval ... --runs-dir`): their metrics,
per-attribute scores and precision-recall curves, and two runs side by side. Read from the run
folders, never written. `shelfgraph serve` adds this router to the app (`WebSettings.eval_pages`):
the web package itself never imports eval/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shelfgraph.web import charts
from shelfgraph.web.views import not_found, render

if TYPE_CHECKING:
    from .runs import SavedRun

router = APIRouter()
HEADLINE = ("precision", "recall", "f1", "accuracy", "aupr", "items_per_s")
CHANGED_SHOWN = 50


@router.get("/eval", response_class=HTMLResponse)
def runs(request: Request) -> HTMLResponse:
    import json

    from .runs import list_runs

    runs_dir = _runs_dir(request)
    records = [json.loads((p / "run.json").read_text("utf-8")) for p in reversed(list_runs(runs_dir))]
    names = [k for k in HEADLINE if any(k in r.get("metrics", {}) for r in records)]
    return render(request, "eval_runs.html", title="Eval runs", runs=records, names=names, runs_dir=runs_dir)


@router.get("/eval/compare", response_class=HTMLResponse)
def compare(request: Request, a: str, b: str) -> HTMLResponse:
    from .runs import compare_runs

    found = _load(request, a), _load(request, b)
    if found[0] is None or found[1] is None:
        return not_found(request, f"No saved run {a if found[0] is None else b!r} in {_runs_dir(request)}.")
    first, second = found
    try:
        diff = compare_runs(first, second)
    except ValueError as error:  # runs of two different tasks
        return render(request, "error.html", status_code=400, title="Cannot compare", message=str(error))
    scores = [_attribute_scores(first), _attribute_scores(second)]
    keys = sorted(set(scores[0]) | set(scores[1]))
    return render(request, "eval_compare.html", title=f"{first.id} vs {second.id}", a=first, b=second,
                  diff=diff, changed=diff["changed"][:CHANGED_SHOWN], keys=keys, scores=scores,
                  chart=charts.pr_curves({**_curves(first, "a: "), **_curves(second, "b: ")}))


@router.get("/eval/{run_id}", response_class=HTMLResponse)
def run(request: Request, run_id: str) -> HTMLResponse:
    saved = _load(request, run_id)
    if saved is None:
        return not_found(request, f"No saved run {run_id!r} in {_runs_dir(request)}.")
    return render(request, "eval_run.html", title=f"Eval run {saved.id}", run=saved,
                  scores=_attribute_scores(saved), chart=charts.pr_curves(_curves(saved)))


def _runs_dir(request: Request) -> Path:
    return request.app.state.settings.runs_dir


def _load(request: Request, run_id: str) -> "SavedRun | None":
    """A run of the runs folder by its id or a unique prefix of it (never a path a visitor names)."""
    from .runs import list_runs, load_run

    matches = [p for p in list_runs(_runs_dir(request)) if p.name.startswith(run_id)] if run_id else []
    exact = [p for p in matches if p.name == run_id]
    chosen = exact or matches
    return load_run(chosen[0]) if len(chosen) == 1 else None


def _attribute_scores(run: "SavedRun") -> dict[tuple[str, str], dict[str, Any]]:
    from .report import attribute_scores

    return attribute_scores(run.predictions) if run.task == "extraction" else {}


def _curves(run: "SavedRun", prefix: str = "") -> dict[str, tuple[list[float], list[float]]]:
    """The run's precision-recall curve: extracted values by confidence, or scored decisions."""
    from .metrics import aupr, pr_curve
    from .report import confidence_curve, decision_curve

    found = confidence_curve(run.predictions) if run.task == "extraction" else decision_curve(run.predictions)
    if not found or not any(score is not None for score in found[1]):
        return {}
    labels, scores = found
    precision, recall, _ = pr_curve(labels, scores)
    name = f"{prefix}{run.id} {run.config.get('method', '')} (AUPR {aupr(labels, scores):.3f})"
    return {name: (precision, recall)}
