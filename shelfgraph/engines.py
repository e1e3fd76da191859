"""Where a stage's units run: in this process, or through Ray Data across a cluster.

Both engines run the same code: a `StageWorker` builds the step from the registry by name,
initializes it once, then maps batches of unit payloads to outputs. Results come back to the
caller in order, batch by batch, and the caller alone writes to the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from . import registry
from .context import StepContext
from .extras import require
from .models import Product, TaxonomyNode
from .steps import NotEnoughData, Pair, StepKind


class StageSpec(BaseModel):
    """Everything a worker needs to rebuild a step: picklable, no open handles."""

    kind: StepKind
    method: str
    config: dict[str, Any]
    context: StepContext
    init_args: tuple


class StageWorker:
    """Builds and initializes the step once; then processes batches of payloads."""

    def __init__(self, spec: StageSpec, process: Callable[..., list], run_id: str, options: dict):
        self.step = registry.create(spec.kind, spec.method, context=spec.context, **spec.config)
        self.step.initialize(*_typed_init_args(spec.kind, spec.init_args))
        self.process = process
        self.run_id = run_id
        self.options = options

    def __call__(self, payloads: Sequence[dict]) -> list:
        return self.process(self.step, payloads, self.run_id, self.options)


def _typed_init_args(kind: StepKind, args: tuple) -> tuple:
    """Init arguments travel as plain JSON-able data; the step gets its pydantic models."""
    if kind in ("type", "imputation", "cleaning"):
        return ([Product.model_validate(p) for p in args[0]],)
    if kind == "hypernym":
        return ([TaxonomyNode.model_validate(n) for n in args[0]],)
    if kind == "relations":
        return (args[0], [TaxonomyNode.model_validate(n) for n in args[1]])
    return ([Pair.model_validate(p) for p in args[0]],)


def run_stage(
    spec: StageSpec,
    process: Callable[..., list],
    units: Sequence[tuple[str, dict]],
    run_id: str,
    options: dict,
    engine: Literal["local", "ray"] = "local",
    workers: int = 1,
    batch_size: int = 16,
) -> Iterator[list]:
    """Yield the outputs of each batch of units, in order."""
    if not units:
        return
    payloads = [payload for _, payload in units]
    if engine == "ray":
        yield from _run_ray(spec, process, payloads, run_id, options, workers, batch_size)
        return
    worker = StageWorker(spec, process, run_id, options)
    for start in range(0, len(payloads), batch_size):
        yield worker(payloads[start:start + batch_size])


def _run_ray(spec: StageSpec, process: Callable[..., list], payloads: list[dict], run_id: str,
             options: dict, workers: int, batch_size: int) -> Iterator[list]:
    import json

    require("ray", "--engine ray")
    import ray

    from .pipeline import UnitOutput

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False

    class RayWorker:
        def __init__(self) -> None:
            # An actor that fails to start reaches the driver only as "actor died": a step
            # that cannot learn says so in its output instead, for the driver to raise.
            try:
                self.worker: StageWorker | None = StageWorker(spec, process, run_id, options)
                self.unfit = ""
            except NotEnoughData as err:
                self.worker, self.unfit = None, str(err)

        def __call__(self, batch: dict) -> dict:
            if self.worker is None:
                return {"output": [""] * len(batch["payload"]), "unfit": [self.unfit] * len(batch["payload"])}
            outputs = self.worker([json.loads(p) for p in batch["payload"]])
            return {"output": [o.model_dump_json() for o in outputs], "unfit": [""] * len(outputs)}

    dataset = ray.data.from_items([{"payload": json.dumps(p)} for p in payloads])
    results = dataset.map_batches(RayWorker, batch_size=batch_size, concurrency=max(1, workers),
                                  batch_format="numpy")
    for batch in results.iter_batches(batch_size=batch_size, batch_format="numpy"):
        if batch["unfit"][0]:
            raise NotEnoughData(batch["unfit"][0])
        yield [UnitOutput.model_validate_json(o) for o in batch["output"]]
