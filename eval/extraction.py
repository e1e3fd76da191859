"""Attribute-value extraction eval: train an imputation step on TRAIN, predict TEST, score.

The step is looked up by name in the registry, so baselines, agents and hybrids are compared
on the same data by the same scorer. A step is asked only for the attributes known for the
product's category in TRAIN; the score uses the protocol's known attributes (those named in
the test set's gold records), as the published numbers do.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from shelfgraph import registry
from shelfgraph.context import StepContext
from shelfgraph.progress import progress_bar
from shelfgraph.stages.imputation import ImputationStep
from shelfgraph.steps import Extraction

from .datasets import NA, Record, known_attributes, record_to_product
from .metrics import extraction_outcomes, extraction_score

TASK = "extraction"


class StepConfigError(ValueError):
    """The method does not exist or does not take the given configuration."""


def prediction_row(record: Record, wanted: Sequence[str], extractions: Sequence[Extraction],
                   known: Sequence[str]) -> dict[str, Any]:
    """What a run stores per test example; `pred` is the OUT.jsonl line."""
    found = {e.attribute: e for e in extractions if e.attribute in wanted}
    pred = {attribute: found[attribute].value if attribute in found else NA for attribute in wanted}
    return {
        "id": record.id, "category": record.category, "title": record.title, "gold": record.gold,
        "pred": pred, "outcomes": extraction_outcomes(record.gold, pred, known),
        "spans": {a: e.model_dump(exclude={"value", "attribute"}) for a, e in found.items()},
    }


def evaluate_extraction(
    train: Sequence[Record], test: Sequence[Record], method: str, context: StepContext | None = None,
    limit: int | None = None, progress: bool = True, batch_size: int = 64,
    step_config: dict[str, Any] | None = None, step_dir: Path | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], ImputationStep]:
    """Metrics (flat dict), one prediction row per test record in order, and the trained step.
    With `step_dir`, the step is loaded from there (saved by `to_disk`) instead of trained;
    TRAIN still decides which attributes are known per category."""
    test = list(test)[:limit] if limit is not None else list(test)
    try:
        step = registry.create("imputation", method, context=context, **(step_config or {}))
    except (registry.UnknownStepError, TypeError) as error:
        raise StepConfigError(f"imputation/{method} with config {step_config or {}}: {error}") from None
    train_known = known_attributes(train)
    started = time.perf_counter()
    if step_dir is not None:
        step = step.from_disk(Path(step_dir))
    else:
        step.initialize([record_to_product(r) for r in train])
    trained = time.perf_counter()
    wanted = [train_known.get(r.category, []) for r in test]
    scored_known = known_attributes(test)
    rows: list[dict[str, Any]] = []
    with progress_bar(progress) as bar:
        task = bar.add_task(f"extraction/{method}", total=len(test))
        for begin in range(0, len(test), batch_size):
            batch = test[begin:begin + batch_size]
            extractions = step.predict([record_to_product(r) for r in batch], wanted[begin:begin + batch_size])
            rows.extend(prediction_row(r, w, e, scored_known[r.category]) for r, w, e in
                        zip(batch, wanted[begin:begin + batch_size], extractions))
            bar.advance(task, len(batch))
    predicted = time.perf_counter()
    metrics = extraction_score([r.gold for r in test], [row["pred"] for row in rows],
                               [scored_known[r.category] for r in test])
    metrics.update(n_train=len(train), n_test=len(test), train_s=round(trained - started, 3),
                   predict_s=round(predicted - trained, 3),
                   items_per_s=round(len(test) / (predicted - trained), 1) if predicted > trained else None)
    metrics.update(getattr(step, "stats", dict)())  # agents and hybrids: how often and how long the LLM ran
    return metrics, rows, step
