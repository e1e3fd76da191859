"""Where a stage's units run: in this process, or through Ray Data across a cluster.

The local engine runs the step the caller built, on the unit models as they are. The Ray
engine cannot ship a built step (it holds model handles): each worker builds its own from the
registry by name, and units and outputs cross as JSON. Both initialize the step once with the
stage's training inputs, then call the stage's `process` on batches of units. Results come
back to the caller in order, batch by batch, and the caller alone writes to the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any, Literal

from pydantic import BaseModel

from . import registry
from .context import StepContext
from .extras import require
from .stages import STAGES, StepKind, UnitOutput
from .steps import NotEnoughData, Step


class StageSpec(BaseModel):
    """How to build and train a stage's step again in a Ray worker: picklable, no open handles."""

    kind: StepKind
    method: str
    config: dict[str, Any]
    context: StepContext
    training: tuple  # the arguments of the step's `initialize`


def run_stage(
    spec: StageSpec,
    step: Step,
    units: Iterable[BaseModel],
    run_id: str,
    options: dict[str, Any],
    engine: Literal["local", "ray"] = "local",
    workers: int = 1,
    batch_size: int = 16,
) -> Iterator[list[UnitOutput]]:
    """Yield the outputs of each batch of units, in order. `step` is the step `spec` built,
    not yet initialized; the local engine runs it, the Ray engine builds one per worker. Units
    are read as batches are run: a step with no unit to do is not even initialized."""
    units = iter(units)
    first = next(units, None)
    if first is None:
        return
    units = chain([first], units)
    if engine == "ray":
        yield from _run_ray(spec, units, run_id, options, workers, batch_size)
        return
    stage = STAGES[spec.kind]
    step.initialize(*spec.training)
    while batch := list(islice(units, batch_size)):
        yield stage.process(step, batch, run_id, options)


def _run_ray(spec: StageSpec, units: Iterable[BaseModel], run_id: str, options: dict[str, Any], workers: int,
             batch_size: int) -> Iterator[list[UnitOutput]]:
    require("ray", "--engine ray")
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False

    class RayWorker:
        def __init__(self) -> None:
            # An actor that fails to start reaches the driver only as "actor died": a step
            # that cannot learn says so in its output instead, for the driver to raise.
            self.stage = STAGES[spec.kind]
            self.step = registry.create(spec.kind, spec.method, context=spec.context, **spec.config)
            try:
                self.step.initialize(*spec.training)
                self.unfit = ""
            except NotEnoughData as err:
                self.unfit = str(err)

        def __call__(self, batch: dict) -> dict:
            if self.unfit:
                return {"output": [""] * len(batch["unit"]), "unfit": [self.unfit] * len(batch["unit"])}
            units = [self.stage.unit.model_validate_json(u) for u in batch["unit"]]
            outputs = self.stage.process(self.step, units, run_id, options)
            return {"output": [o.model_dump_json() for o in outputs], "unfit": [""] * len(outputs)}

    dataset = ray.data.from_items([{"unit": u.model_dump_json()} for u in units])
    results = dataset.map_batches(RayWorker, batch_size=batch_size, concurrency=max(1, workers),
                                  batch_format="numpy")
    for batch in results.iter_batches(batch_size=batch_size, batch_format="numpy"):
        if batch["unfit"][0]:
            raise NotEnoughData(batch["unfit"][0])
        yield [UnitOutput.model_validate_json(o) for o in batch["output"]]
