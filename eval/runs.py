"""Saved eval runs: a folder per run, so prompts and methods can be compared afterwards.

A run folder holds `run.json` (task, config, metrics, extra such as the prompt name, version
and hash or the model) and `predictions.jsonl` (one JSON object per test example, in order).
Task-agnostic: a prediction row is any dict; by convention it has `id` (the example), `pred`
(what the method answered) and `gold`. `compare_runs` matches rows by `id` when every row has
a distinct one, else by position, and compares their `pred` (the whole row when absent); rows with `outcomes` (per-part scores) also say which
parts' outcomes moved, and those examples come first.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from shelfgraph.models import canonical_json, content_hash

DEFAULT_RUNS_DIR = Path("runs")


class SavedRun(BaseModel):
    id: str
    task: str
    path: Path
    created_at: float
    config: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    predictions: list[dict[str, Any]] = Field(default_factory=list)


def save_run(
    runs_dir: Path, task: str, config: dict, metrics: dict, predictions: list[dict],
    extra: dict | None = None,
) -> Path:
    """Write a run folder named `<UTC timestamp>-<short content hash>` and return its path."""
    created_at = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(created_at))
    digest = content_hash({"task": task, "config": config, "metrics": metrics,
                           "predictions": predictions, "extra": extra, "at": created_at})[:8]
    run_id = f"{stamp}-{digest}"
    path = Path(runs_dir) / run_id
    path.mkdir(parents=True, exist_ok=False)
    with open(path / "predictions.jsonl", "w", encoding="utf-8") as out:
        for row in predictions:
            out.write(canonical_json(row) + "\n")
    record = {"id": run_id, "task": task, "created_at": created_at, "config": config,
              "metrics": metrics, "extra": extra or {}, "n_predictions": len(predictions)}
    (path / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n",
                                   encoding="utf-8")
    return path


def list_runs(runs_dir: Path = DEFAULT_RUNS_DIR, task: str | None = None) -> list[Path]:
    """Run folders under `runs_dir`, oldest first (ids start with their timestamp)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    folders = sorted(p for p in runs_dir.iterdir() if (p / "run.json").is_file())
    if task is not None:
        folders = [p for p in folders if json.loads((p / "run.json").read_text("utf-8"))["task"] == task]
    return folders


def resolve_run(path_or_id: str | Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """A run folder from its path, its id, a unique id prefix, or "latest"."""
    candidate = Path(path_or_id)
    if (candidate / "run.json").is_file():
        return candidate
    folders = list_runs(runs_dir)
    if str(path_or_id) == "latest" and folders:
        return folders[-1]
    matches = [p for p in folders if p.name.startswith(str(path_or_id))]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FileNotFoundError(f"no run {str(path_or_id)!r} in {runs_dir} (a run folder, an id or 'latest')")
    raise ValueError(f"{str(path_or_id)!r} matches {len(matches)} runs in {runs_dir}: "
                     + ", ".join(p.name for p in matches))


def load_run(path_or_id: str | Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> SavedRun:
    path = resolve_run(path_or_id, runs_dir)
    record = json.loads((path / "run.json").read_text("utf-8"))
    with open(path / "predictions.jsonl", encoding="utf-8") as lines:
        predictions = [json.loads(line) for line in lines if line.strip()]
    return SavedRun(path=path, predictions=predictions,
                    **{k: record[k] for k in ("id", "task", "created_at", "config", "metrics", "extra")})


def _keyed(rows: list[dict]) -> dict[Any, dict]:
    ids = [row.get("id") for row in rows]
    if None not in ids and len(set(map(str, ids))) == len(ids):
        return {str(i): row for i, row in zip(ids, rows)}
    return dict(enumerate(rows))


def compare_runs(a: SavedRun, b: SavedRun) -> dict:
    """Metric deltas (b - a) and the examples whose prediction changed from a to b."""
    if a.task != b.task:
        raise ValueError(f"cannot compare a {a.task!r} run ({a.id}) with a {b.task!r} run ({b.id})")
    metrics = {}
    for name in dict.fromkeys([*a.metrics, *b.metrics]):
        va, vb = a.metrics.get(name), b.metrics.get(name)
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
        metrics[name] = {"a": va, "b": vb, "delta": round(vb - va, 6) if numeric else None}
    rows_a, rows_b = _keyed(a.predictions), _keyed(b.predictions)
    changed = []
    for key, row_b in rows_b.items():  # in B's order
        row_a = rows_a.get(key)
        if row_a is None:
            continue
        pred_a, pred_b = row_a.get("pred", row_a), row_b.get("pred", row_b)
        if canonical_json(pred_a) != canonical_json(pred_b):
            change = {"key": key, "gold": row_b.get("gold", row_a.get("gold")), "a": pred_a, "b": pred_b,
                      "row": {k: v for k, v in row_b.items() if k not in ("pred", "gold", "outcomes")}}
            if "outcomes" in row_a or "outcomes" in row_b:  # per-part scores (extraction): which moved
                outcomes_a, outcomes_b = row_a.get("outcomes", {}), row_b.get("outcomes", {})
                change["outcomes"] = {k: [outcomes_a.get(k), outcomes_b.get(k)]
                                      for k in dict.fromkeys([*outcomes_a, *outcomes_b])
                                      if outcomes_a.get(k) != outcomes_b.get(k)}
            changed.append(change)
    changed.sort(key=lambda change: not change.get("outcomes"))  # score-changing examples first
    return {"task": a.task, "a": a.id, "b": b.id, "metrics": metrics,
            "compared": len(rows_a.keys() & rows_b.keys()),
            "only_in_a": len(rows_a.keys() - rows_b.keys()), "only_in_b": len(rows_b.keys() - rows_a.keys()),
            "changed": changed}
