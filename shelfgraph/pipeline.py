"""The incremental build engine: every stage of `shelfgraph.stages`, in order, each reading
what the ones before it wrote; what a stage's units are and how its step's answers become
facts is the stage's own business (see `stages/inputs.py` for which products each reads).

Work is cut into units (a product, a type, an attribute). A unit's input hash covers every
input it reads plus the step's signature (method, model, prompt version); a finished unit is
recorded with its outputs in the same transaction as its facts. So a build killed at any
moment resumes where it stopped, a re-run on unchanged input does no model work, and a unit
whose input changed is redone with the facts it no longer asserts retracted (kept, marked).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import registry
from .context import StepContext
from .engines import StageBatch, StageSpec, run_stage
from .errors import UsageError
from .models import SAME_AS, Fact, Product, content_hash
from .stages import STAGES, Stage, StepKind, UnitOutput
from .stages.inputs import BuildInputs
from .steps import NotEnoughData, Step
from .store import Ledger


class StepSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str | None = None  # None: the build's default method
    config: dict[str, Any] = Field(default_factory=dict)  # passed to the step's factory


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class BuildConfig(BaseModel):
    """What `shelfgraph build` does; `--config shelfgraph.toml` fills it, flags override.
    A misspelt key or an out-of-range value is an error: ignored, it would quietly do nothing."""

    model_config = ConfigDict(extra="forbid")

    method: str = "baseline"
    steps: dict[StepKind, StepSettings] = Field(default_factory=dict)
    limit: int | None = Field(None, ge=0)  # 0: the batch is ingested and no step runs
    batch_size: int | None = Field(None, ge=1)  # units a step gets at a time; None: the step's own
    chunk_size: int = Field(500, ge=1)  # products read from the ledger, and asked about, at a time
    relation_products: int = Field(500, ge=1)  # most stored products a type's relation unit reads
    engine: Literal["local", "ray"] = "local"
    workers: int = Field(1, ge=1)
    shards: str | None = None  # where Ray workers put fact shards (fsspec URL); None: a temporary folder
    applicable_threshold: Fraction = 0.5
    cleaning_threshold: Fraction = 0.5
    synonym_threshold: Fraction = 0.5
    synonym_candidates: int = Field(200, ge=0)  # most candidate pairs scored per attribute
    hypernym_k: int = Field(5, ge=1)

    def settings(self, kind: StepKind) -> StepSettings:
        return self.steps.get(kind, StepSettings())

    def method_for(self, kind: StepKind) -> str:
        return self.settings(kind).method or self.method

    @classmethod
    def from_toml(cls, path: Path | None, **overrides: Any) -> "BuildConfig":
        """The file's settings under the command line's (`overrides`, None: not given).
        Raises UsageError naming the file and line of bad TOML, or the key of a bad value."""
        data = _read_toml(path) if path else {}
        options = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls.model_validate({**data, **options})
        except ValidationError as err:
            raise UsageError("; ".join(_config_error(e, path, options) for e in err.errors())) from None

    def build_steps(self, context: StepContext) -> dict[str, Step]:
        """Every stage's step, built once, before anything is stored: an unknown method, prompt
        or step setting fails here. Steps learn nothing until their stage runs."""
        from .prompting import PromptNotFoundError

        steps = {}
        for kind in STAGES:
            settings = self.settings(kind)
            try:
                steps[kind] = registry.create(kind, self.method_for(kind), context=context, **settings.config)
            except registry.UnknownStepError as err:
                raise UsageError(str(err)) from None
            except (PromptNotFoundError, TypeError, ValueError) as err:
                raise UsageError(f"[steps.{kind}] config {settings.config}: {err}") from None
        return steps


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:  # "Invalid value (at line 3, column 9)", or "at end of document"
        found = re.match(r"(.*) \(at (?:line (\d+), column (\d+)|end of document)\)$", str(err), re.S)
        if found is None:
            raise UsageError(f"{path}: {err}") from None
        message, line, column = found.groups()
        where = f"line {line}, column {column}" if line else f"line {max(1, len(text.splitlines()))} (end of file)"
        raise UsageError(f"{path}: {where}: {message}") from None


def _config_error(error: Any, path: Path | None, options: dict[str, Any]) -> str:
    """One pydantic error as "<file>: <key> = <value>: <what is wrong>", or "--<option> = ..."."""
    loc = [str(part) for part in error["loc"] if part != "[key]"] or ["config"]
    if loc[0] in options:
        where = "--" + loc[0].replace("_", "-")
    else:
        where = (f"{path}: " if path else "") + ".".join(loc)
    if error["type"] == "extra_forbidden":
        valid = StepSettings.model_fields if loc[0] == "steps" else BuildConfig.model_fields
        return f"{where}: unknown key; valid: {', '.join(valid)}"
    return f"{where} = {error['input']!r}: {error['msg']}"


class StageReport(BaseModel):
    step: str
    method: str
    units: int = 0
    done: int = 0
    skipped: int = 0
    facts_added: int = 0
    retracted: int = 0
    flagged: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time: on a shared machine, what the stage cost
    note: str | None = None  # why the stage was skipped, or ran untrained


# ------------------------------------------------------------------ the build
class Build:
    """One run of the pipeline over the products of a batch, against one ledger."""

    def __init__(self, ledger: Ledger, config: BuildConfig, context: StepContext,
                 product_ids: Sequence[str], labelled: Sequence[Product], run_id: str,
                 steps: dict[str, Step], progress: Any | None = None):
        """`steps`: `config.build_steps()`, one per stage; each is dropped once its stage ran."""
        self.ledger = ledger
        self.config = config
        self.context = context.model_copy(update={"run_id": run_id})
        self.product_ids = list(product_ids)[: config.limit] if config.limit is not None else list(product_ids)
        self.inputs = BuildInputs(ledger, self.product_ids, labelled, config.synonym_candidates,
                                  config.chunk_size, config.relation_products)
        self.run_id = run_id
        self.steps = dict(steps)
        self.progress = progress
        self.reports: list[StageReport] = []

    # -- running -----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        before = self._census()
        started = time.time()
        # No stage runs on an empty batch: `--limit 0` means ingest only, and a batch whose every
        # row was rejected has nothing to build.
        for stage in STAGES.values() if self.product_ids else ():
            self.reports.append(self.run_stage(stage, self.steps.pop(stage.kind)))
        after = self._census()
        return self._summary(before, after, time.time() - started)

    def run_stage(self, stage: Stage, step: Step) -> StageReport:
        started, cpu = time.time(), time.process_time()
        kind = stage.kind
        method = self.config.method_for(kind)
        spec = StageSpec(kind=kind, method=method, config=self.config.settings(kind).config, context=self.context,
                         training=stage.training(self.inputs))
        options = self.config.model_dump(include={"applicable_threshold", "cleaning_threshold",
                                                  "synonym_threshold", "hypernym_k"})
        report = StageReport(step=kind, method=method)
        pending: deque[tuple[str, str, dict]] = deque()  # (key, input hash, earlier outputs), in order
        current: set[str] = set()  # a graph-level stage's unit keys (few: types, attributes)
        todo = self._todo(stage, [step.signature().model_dump(), options], pending, current, report)
        task = self.progress.add_task(f"{kind} ({method})", total=None) if self.progress else None
        try:
            for batch in run_stage(spec, step, todo, self.run_id, options, engine=self.config.engine,
                                   workers=self.config.workers, batch_size=self.config.batch_size or step.batch_size,
                                   shards=self.config.shards):
                self._commit(kind, batch, pending, report)
                if task is not None:
                    self.progress.advance(task, len(batch.outputs))
        except NotEnoughData as err:  # raised while the step learns, before any unit ran
            if report.done:
                raise
            report.note = f"{kind} ({method}) skipped: {err}"
            for _ in todo:  # the rest is still counted, and vanished units retired
                pending.popleft()
        else:
            if report.units > report.skipped and not spec.training[0]:
                report.note = f"{kind} ({method}): no training data, so the step ran untrained"
        if not stage.per_product:
            for key, record in self.ledger.work_done(kind).items():
                if key not in current and record[0] != "gone":
                    self._retire(kind, key, record[1], report)
        report.seconds = round(time.time() - started, 3)
        report.cpu_seconds = round(time.process_time() - cpu, 3)
        return report

    def _todo(self, stage: Stage, salt: list[Any], pending: deque[tuple[str, str, dict]], current: set[str],
              report: StageReport) -> Iterator[BaseModel]:
        """The units whose input hash changed since they were done, made and checked a chunk
        at a time as the engine asks for them; each one's key, hash and earlier outputs wait in
        `pending` for its output. A unit's hash covers its input, the step's signature and the
        options. A product of the batch left with nothing to do has its earlier work retired.
        A graph-level unit may hold hundreds of products (relations): those are taken one at a time."""
        units = iter(stage.units(self.inputs))
        while chunk := list(islice(units, self.config.chunk_size if stage.per_product else 1)):
            done = self.ledger.work_of(stage.kind, [key for key, _ in chunk])
            for key, unit in chunk:
                record = done.get(key)
                if unit is None:
                    if record is not None and record[0] != "gone":
                        self._retire(stage.kind, key, record[1], report)
                    continue
                report.units += 1
                if not stage.per_product:
                    current.add(key)
                digest = content_hash([unit.model_dump(), *salt])
                if record is not None and record[0] == digest:
                    report.skipped += 1
                    continue
                pending.append((key, digest, record[1] if record else {}))
                yield unit

    def _commit(self, kind: StepKind, batch: StageBatch, pending: deque[tuple[str, str, dict]],
                report: StageReport) -> None:
        """Facts, retractions and the work record of a batch land in one transaction."""
        with self.ledger.atomic():
            report.facts_added += batch.store_facts(self.ledger)
            for output, ids in zip(batch.outputs, batch.fact_ids):
                key, digest, previous = pending.popleft()
                if key != output.key:
                    raise RuntimeError(f"{kind}: the output of unit {output.key} came back in place of {key}")
                stale = sorted(set(previous.get("facts", [])) - set(ids))
                report.retracted += self.ledger.set_status(stale, "retracted", self.run_id,
                                                           reason=f"{kind}: no longer asserted")
                self._apply_flags(kind, output, previous.get("flagged", []), report)
                self.ledger.record_work(kind, output.key, digest, self.run_id,
                                        {"facts": ids, "flagged": sorted(output.flagged)})
                report.done += 1

    def _apply_flags(self, kind: StepKind, output: UnitOutput, previously: list[str],
                     report: StageReport) -> None:
        for fact_id, reason in output.flagged.items():
            report.flagged += self.ledger.set_status([fact_id], "rejected", self.run_id, f"{kind}: {reason}")
        cleared = sorted(set(previously) - set(output.flagged))
        self.ledger.set_status(cleared, "active", self.run_id, reason=f"{kind}: no longer flagged",
                               only_from="rejected")

    def _retire(self, kind: StepKind, key: str, outputs: dict[str, Any], report: StageReport) -> None:
        """A unit that no longer exists: a product of the batch with nothing left to do for
        this stage, a type or value gone from the whole graph (products outside the batch are
        not this build's to retire). Its facts are retracted, its flags lifted."""
        with self.ledger.atomic():
            report.retracted += self.ledger.set_status(outputs.get("facts", []), "retracted",
                                                       self.run_id, reason=f"{kind}: input gone")
            self.ledger.set_status(outputs.get("flagged", []), "active", self.run_id,
                                   reason=f"{kind}: input gone", only_from="rejected")
            self.ledger.record_work(kind, key, "gone", self.run_id, {})

    # -- the summary a person reads -------------------------------------------------------
    def _census(self) -> dict[str, Any]:
        stats = self.ledger.stats()
        return {"facts": stats["facts"]["by_status"].get("active", 0), "types": sorted(self.inputs.batch_types()),
                "rejected": stats["facts"]["by_status"].get("rejected", 0)}

    def _summary(self, before: dict, after: dict, seconds: float) -> dict[str, Any]:
        new_types = sorted(set(after["types"]) - set(before["types"]))
        placements = {}
        for name in sorted(set(after["types"]) - self.inputs.known_types()):
            path = self.inputs.placement(name)
            placements[name] = " > ".join(n.name for n in path) if path else None
        applicable = {t: self.inputs.applicable(t) for t in after["types"] if self.inputs.applicable(t)}
        synonyms = synonym_groups(self.ledger.facts(predicate=SAME_AS))
        increase = (after["facts"] - before["facts"]) / before["facts"] * 100 if before["facts"] else None
        return {
            "products": len(self.product_ids),
            "facts_before": before["facts"], "facts_after": after["facts"],
            "facts_increase_percent": None if increase is None else round(increase, 1),
            "types_before": len(before["types"]), "types_after": len(after["types"]),
            "new_types": new_types, "placements": placements,
            "applicable_attributes": applicable,
            "rejected_by_cleaning": after["rejected"],
            "synonym_groups": synonyms,
            "steps": [r.model_dump() for r in self.reports],
            "notes": [r.note for r in self.reports if r.note] or
                     ([] if self.product_ids else ["the batch has no products: no step ran"]),
            "seconds": round(seconds, 2),
        }


def synonym_groups(facts: Iterable[Fact]) -> list[list[str]]:
    """Connected groups of `same_as` facts (union-find), each sorted, largest first."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for fact in facts:
        parent[find(fact.subject)] = find(fact.object)
    groups: dict[str, list[str]] = defaultdict(list)
    for node in parent:
        groups[find(node)].append(node)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))
