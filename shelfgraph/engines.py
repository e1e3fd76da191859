"""Where a stage's units run: in this process, or through Ray Data across a cluster.

The local engine runs the step the caller built, on the unit models as they are. The Ray
engine cannot ship a built step (it holds model handles): each worker builds its own from the
registry by name (the spec carries the LLM config, so workers call the same served model),
and units cross as JSON. Both initialize the step once with the stage's training inputs, then
call the stage's `process` on batches of units. Batches come back to the caller in order, and
the caller alone writes to the ledger: a local batch hands over its facts as objects, a Ray
batch as a Parquet shard its worker wrote (`shards.py`), which the caller merges as columns.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from . import registry
from .context import StepContext
from .extras import require
from .models import id_of_key
from .stages import STAGES, StepKind, UnitOutput
from .steps import NotEnoughData, Step

if TYPE_CHECKING:
    from .store import Ledger


class StageSpec(BaseModel):
    """How to build and train a stage's step again in a Ray worker: picklable, no open handles."""

    kind: StepKind
    method: str
    config: dict[str, Any]
    context: StepContext
    training: tuple  # the arguments of the step's `initialize`


class StageBatch(BaseModel):
    """What one batch of units produced. The outputs hold their facts, unless a Ray worker
    wrote them to `shard`: then the outputs come without facts and `fact_ids` says which
    facts each asserted."""

    outputs: list[UnitOutput]
    fact_ids: list[list[str]]
    shard: str | None = None

    @classmethod
    def of(cls, outputs: list[UnitOutput]) -> "StageBatch":
        return cls(outputs=outputs, fact_ids=[[fact.id for fact in output.facts] for output in outputs])

    def store_facts(self, ledger: Ledger) -> int:
        """Write the batch's facts (call inside the caller's transaction); returns how many were new."""
        if self.shard is None:
            return ledger.add_facts(fact for output in self.outputs for fact in output.facts)
        from .shards import read_shard, remove_shard

        new = ledger.merge_fact_columns(read_shard(self.shard))
        remove_shard(self.shard)
        return new


def run_stage(
    spec: StageSpec,
    step: Step,
    units: Iterable[BaseModel],
    run_id: str,
    options: dict[str, Any],
    engine: Literal["local", "ray"] = "local",
    workers: int = 1,
    batch_size: int = 16,
    shards: str | None = None,
) -> Iterator[StageBatch]:
    """Yield each batch of units' results, in order. `step` is the step `spec` built, not yet
    initialized; the local engine runs it, the Ray engine builds one per worker, whose facts
    go as Parquet shards into the folder `shards` (any fsspec URL the workers and this process
    both reach; None: a temporary local folder, enough for a cluster on one machine). Units
    are read as batches are run: a step with no unit to do is not even initialized."""
    units = iter(units)
    first = next(units, None)
    if first is None:
        return
    units = chain([first], units)
    if engine == "ray":
        if shards is not None:
            yield from _run_ray(spec, units, run_id, options, workers, batch_size, shards)
            return
        with tempfile.TemporaryDirectory(prefix="shelfgraph-shards-") as folder:
            yield from _run_ray(spec, units, run_id, options, workers, batch_size, folder)
        return
    stage = STAGES[spec.kind]
    step.initialize(*spec.training)
    while batch := list(islice(units, batch_size)):
        yield StageBatch.of(stage.process(step, batch, run_id, options))


def _run_ray(spec: StageSpec, units: Iterable[BaseModel], run_id: str, options: dict[str, Any], workers: int,
             batch_size: int, shards: str) -> Iterator[StageBatch]:
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
            """One row per batch of units: its outputs and fact ids, its facts in a shard."""
            if self.unfit:
                return {"batch": [""], "unfit": [self.unfit]}
            units = [self.stage.unit.model_validate_json(u) for u in batch["unit"]]
            return {"batch": [_shipped(self.stage.process(self.step, units, run_id, options), spec.kind,
                                       shards).model_dump_json()], "unfit": [""]}

    dataset = ray.data.from_items([{"unit": u.model_dump_json()} for u in units])
    results = dataset.map_batches(RayWorker, batch_size=batch_size, concurrency=max(1, workers),
                                  batch_format="numpy")
    for row in results.iter_rows():
        if row["unfit"]:
            raise NotEnoughData(row["unfit"])
        yield StageBatch.model_validate_json(row["batch"])


def _shipped(outputs: list[UnitOutput], kind: str, shards: str) -> StageBatch:
    """A worker's batch for the driver: the facts hashed into a Parquet shard in `shards`,
    the outputs without them."""
    from .shards import fact_columns, fact_table_of, write_shard

    columns = fact_columns(fact for output in outputs for fact in output.facts)
    keys = iter(columns["key"])
    ids = [[id_of_key(next(keys)) for _ in output.facts] for output in outputs]
    shard = (write_shard(fact_table_of(columns), f"{shards.rstrip('/')}/{kind}-{uuid.uuid4().hex}.parquet")
             if columns["key"] else None)
    return StageBatch(outputs=[o.model_copy(update={"facts": []}) for o in outputs], fact_ids=ids, shard=shard)
