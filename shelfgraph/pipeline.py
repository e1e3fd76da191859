"""The AutoKnow build: type extraction, hypernym placement, relation discovery, imputation,
cleaning and synonym finding, in that order, each stage reading what the previous wrote.

Work is cut into units (a product, a type, an attribute). A unit's input hash covers every
input it reads plus the step's signature (method, model, prompt version); a finished unit is
recorded with its outputs in the same transaction as its facts. So a build killed at any
moment resumes where it stopped, a re-run on unchanged input does no model work, and a unit
whose input changed is redone with the facts it no longer asserts retracted (kept, marked).

Which products a stage reads: the product-level stages (type, imputation, cleaning) work on
the batch, one unit per product of it (after `--limit`). The graph-level stages (hypernym,
relations, synonyms) work on the whole graph as it stands after this batch's product-level
stages: every product in the store, its types (catalogue `product_type` and active
`product_type` facts of the type step) and its active attribute facts. So a second batch, or
a smaller `--limit`, leaves the units of types and values it does not touch unchanged: same
input hash, skipped, nothing retracted; a type or value gone from the whole graph is retired.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import registry
from .context import StepContext
from .engines import StageSpec, run_stage
from .errors import UsageError
from .models import (
    APPLICABLE,
    ATTRIBUTE_PREFIX,
    BROADER,
    IMPORTANCE_PREFIX,
    PRODUCT_TYPE,
    SAME_AS,
    Fact,
    Product,
    Provenance,
    TaxonomyNode,
    attribute_predicate,
    content_hash,
    normalise_label,
    product_id_of,
    product_subject,
    type_subject,
    value_subject,
)
from .steps import NotEnoughData, Pair, RelationQuery, StepKind, Triple
from .store import Ledger

STAGES: tuple[StepKind, ...] = ("type", "hypernym", "relations", "imputation", "cleaning", "synonyms")
PROVENANCE_STEP = {"type": "taxonomy", "hypernym": "taxonomy", "relations": "relations",
                   "imputation": "imputation", "cleaning": "cleaning", "synonyms": "synonyms"}


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
    batch_size: int = Field(16, ge=1)
    engine: Literal["local", "ray"] = "local"
    workers: int = Field(1, ge=1)
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

    def check_steps(self, context: StepContext) -> None:
        """Build every stage's step once, so that an unknown method, prompt or step setting
        fails before anything is stored (steps learn nothing until their stage runs)."""
        from .prompting import PromptNotFoundError

        for kind in STAGES:
            settings = self.settings(kind)
            try:
                registry.create(kind, self.method_for(kind), context=context, **settings.config)
            except registry.UnknownStepError as err:
                raise UsageError(str(err)) from None
            except (PromptNotFoundError, TypeError, ValueError) as err:
                raise UsageError(f"[steps.{kind}] config {settings.config}: {err}") from None


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


class UnitOutput(BaseModel):
    """What one unit produced: facts to assert, and facts it flags as wrong (id -> reason)."""

    key: str
    facts: list[Fact] = Field(default_factory=list)
    flagged: dict[str, str] = Field(default_factory=dict)


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
    note: str | None = None  # why the stage was skipped, or ran untrained


# ------------------------------------------------------------------ unit processing
# Each function runs where the step runs (this process, or a Ray worker): pure functions of
# the built step and the unit payloads, so both engines produce the same facts.

def _provenance(step: Any, kind: StepKind, run_id: str, **span: Any) -> Provenance:
    signature = step.signature()
    return Provenance(step=PROVENANCE_STEP[kind], method=signature.method, model=signature.model,
                      prompt=signature.prompt, run_id=run_id, **span)


def process_type(step: Any, payloads: Sequence[dict], run_id: str, options: dict) -> list[UnitOutput]:
    products = [Product.model_validate(p["product"]) for p in payloads]
    outputs = []
    for product, found in zip(products, step.predict(products)):
        facts = []
        if found is not None and found.value.strip():
            facts.append(Fact(subject=product_subject(product.id), predicate=PRODUCT_TYPE,
                              object=normalise_label(found.value), confidence=found.confidence,
                              provenance=_provenance(step, "type", run_id, source_field=found.field,
                                                     start=found.start, end=found.end)))
        outputs.append(UnitOutput(key=product.id, facts=facts))
    return outputs


def process_hypernym(step: Any, payloads: Sequence[dict], run_id: str, options: dict) -> list[UnitOutput]:
    names = [p["type_name"] for p in payloads]
    outputs = []
    for name, ranked in zip(names, step.rank(names, k=options["hypernym_k"])):
        facts = []
        if ranked:
            best = ranked[0]
            facts.append(Fact(subject=type_subject(name), predicate=BROADER, object=best.label,
                              confidence=best.score, provenance=_provenance(step, "hypernym", run_id)))
        outputs.append(UnitOutput(key=name, facts=facts))
    return outputs


def process_relations(step: Any, payloads: Sequence[dict], run_id: str, options: dict) -> list[UnitOutput]:
    queries = [RelationQuery.model_validate(p["query"]) for p in payloads]
    outputs = []
    for query, scores in zip(queries, step.predict(queries)):
        subject = type_subject(query.type_name)
        facts = []
        for score in scores:
            if score.applicable < options["applicable_threshold"]:
                continue
            provenance = _provenance(step, "relations", run_id)
            facts.append(Fact(subject=subject, predicate=APPLICABLE, object=score.attribute,
                              confidence=score.applicable, provenance=provenance))
            if score.importance is not None:
                facts.append(Fact(subject=subject, predicate=IMPORTANCE_PREFIX + score.attribute,
                                  object=f"{score.importance:.3f}", confidence=score.applicable,
                                  provenance=provenance))
        outputs.append(UnitOutput(key=query.type_name, facts=facts))
    return outputs


def process_imputation(step: Any, payloads: Sequence[dict], run_id: str, options: dict) -> list[UnitOutput]:
    products = [Product.model_validate(p["product"]) for p in payloads]
    attributes = [p["attributes"] for p in payloads]
    outputs = []
    for product, wanted, found in zip(products, attributes, step.predict(products, attributes)):
        facts = []
        for extraction in found:
            if extraction.attribute not in wanted or not _grounded(product, extraction):
                continue
            facts.append(Fact(subject=product_subject(product.id),
                              predicate=attribute_predicate(extraction.attribute),
                              object=extraction.value, confidence=extraction.confidence,
                              provenance=_provenance(step, "imputation", run_id, source_field=extraction.field,
                                                     start=extraction.start, end=extraction.end)))
        outputs.append(UnitOutput(key=product.id, facts=facts))
    return outputs


def _grounded(product: Product, extraction: Any) -> bool:
    """An imputed value is stored only where it is the text at its recorded offsets."""
    if extraction.field is None or extraction.start is None or extraction.end is None:
        return False
    try:
        text = product.field_text(extraction.field)
    except KeyError:
        return False
    return text[extraction.start:extraction.end] == extraction.value


def process_cleaning(step: Any, payloads: Sequence[dict], run_id: str, options: dict) -> list[UnitOutput]:
    triples, owners = [], []
    for index, payload in enumerate(payloads):
        product = Product.model_validate(payload["product"])
        for fact_id, attribute, value in payload["triples"]:
            triples.append(Triple(product=product, attribute=attribute, value=value))
            owners.append((index, fact_id))
    scores = step.score(triples) if triples else []
    flagged: list[dict[str, str]] = [{} for _ in payloads]
    for (index, fact_id), score in zip(owners, scores):
        if score is not None and score >= options["cleaning_threshold"]:
            flagged[index][fact_id] = f"p(wrong)={score:.3f}"
    return [UnitOutput(key=p["product"]["id"], flagged=f) for p, f in zip(payloads, flagged)]


def process_synonyms(step: Any, payloads: Sequence[dict], run_id: str, options: dict) -> list[UnitOutput]:
    outputs = []
    for payload in payloads:
        pairs = [Pair.model_validate(p) for p in payload["pairs"]]
        facts = []
        for pair, score in zip(pairs, step.score(pairs) if pairs else []):
            if score is None or score < options["synonym_threshold"]:
                continue
            subject, obj = (_synonym_node(pair, pair.a), _synonym_node(pair, pair.b))
            facts.append(Fact(subject=subject, predicate=SAME_AS, object=obj, confidence=score,
                              provenance=_provenance(step, "synonyms", run_id)))
        outputs.append(UnitOutput(key=payload["key"], facts=facts))
    return outputs


def _synonym_node(pair: Pair, label: str) -> str:
    return type_subject(label) if pair.kind == "type" else value_subject(pair.attribute or "", label)


PROCESSORS: dict[StepKind, Callable[..., list[UnitOutput]]] = {
    "type": process_type, "hypernym": process_hypernym, "relations": process_relations,
    "imputation": process_imputation, "cleaning": process_cleaning, "synonyms": process_synonyms,
}


# ------------------------------------------------------------------ the build
class Build:
    """One run of the pipeline over the products of a batch, against one ledger."""

    def __init__(self, ledger: Ledger, config: BuildConfig, context: StepContext,
                 product_ids: Sequence[str], labelled: Sequence[Product], run_id: str,
                 progress: Any | None = None):
        self.ledger = ledger
        self.config = config
        self.context = context.model_copy(update={"run_id": run_id})
        self.product_ids = list(product_ids)[: config.limit] if config.limit is not None else list(product_ids)
        self.labelled = list(labelled)
        self.run_id = run_id
        self.progress = progress
        self.reports: list[StageReport] = []
        self._products: list[Product] | None = None

    # -- inputs each stage reads ---------------------------------------------------------
    def products(self) -> list[Product]:
        """The batch's products, read once: no stage changes a product."""
        if self._products is None:
            self._products = [p for p in (self.ledger.product(i) for i in self.product_ids) if p is not None]
        return self._products

    def known_types(self) -> set[str]:
        """Types that need no placement: the catalogue's and the taxonomy's."""
        names = {normalise_label(t) for t in self.ledger.catalogue_types().values()}
        names |= {normalise_label(n.name) for n in self.ledger.taxonomy_nodes()}
        return names

    def graph_types(self) -> dict[str, list[str]]:
        """Product id -> its types, for every product in the store as the graph stands now: the
        catalogue's type, then those the type step asserts (ingest's restate the catalogue).
        Two queries, however many products."""
        names = {i: [normalise_label(t)] for i, t in self.ledger.catalogue_types().items()}
        for fact in self.ledger.facts(predicate=PRODUCT_TYPE, step=PROVENANCE_STEP["type"]):
            names.setdefault(product_id_of(fact.subject), []).append(fact.object)
        return {i: list(dict.fromkeys(types)) for i, types in names.items()}

    def batch_types(self) -> set[str]:
        types = self.graph_types()
        return {t for i in self.product_ids for t in types.get(i, [])}

    def applicable(self, type_name: str) -> list[str]:
        return sorted({f.object for f in self.ledger.facts(subject=type_subject(type_name), predicate=APPLICABLE)})

    def training_attributes(self) -> dict[str, list[str]]:
        return attributes_by_type(self.labelled)

    # -- units of each stage ----------------------------------------------------------------
    def units(self, kind: StepKind) -> list[tuple[str, dict]]:
        return getattr(self, f"_units_{kind}")()

    def _units_type(self) -> list[tuple[str, dict]]:
        return [(p.id, {"product": p.model_dump()}) for p in self.products()]

    def _units_hypernym(self) -> list[tuple[str, dict]]:
        known = self.known_types()
        new = sorted({t for types in self.graph_types().values() for t in types} - known)
        return [(name, {"type_name": name, "taxonomy": self._taxonomy_hash}) for name in new]

    def _units_relations(self) -> list[tuple[str, dict]]:
        """One unit per type of the graph, with every stored product of the type; its products
        include the labelled examples of the type, whose values make AutoKnow's frequency
        features meaningful."""
        types = self.graph_types()
        by_type: dict[str, list[Product]] = defaultdict(list)
        for product in self.ledger.products():
            for type_name in types.get(product.id, []):
                by_type[type_name].append(product)
        for product in self.labelled:
            if product.product_type and normalise_label(product.product_type) in by_type:
                by_type[normalise_label(product.product_type)].append(product)
        units = []
        for type_name in sorted(by_type):
            path = [n.name for n in self._placement(type_name)]
            query = RelationQuery(type_name=type_name, path=path, products=by_type[type_name])
            units.append((type_name, {"query": query.model_dump()}))
        return units

    def _placement(self, type_name: str) -> list[TaxonomyNode]:
        parents = self.ledger.facts(subject=type_subject(type_name), predicate=BROADER)
        if parents:
            return self.ledger.taxonomy_path(parents[0].object)
        nodes = self.ledger.find_taxonomy_nodes(type_name)
        return self.ledger.taxonomy_path(nodes[0].id) if nodes else []

    def _units_imputation(self) -> list[tuple[str, dict]]:
        types = self.graph_types()
        units = []
        for product in self.products():
            # What the catalogue states counts even when cleaning rejected it: imputation must
            # not read cleaning's output, or a re-run would never settle.
            facts = self.ledger.facts(subject=product_subject(product.id), status=None)
            have = {f.predicate[len(ATTRIBUTE_PREFIX):] for f in facts
                    if f.predicate.startswith(ATTRIBUTE_PREFIX) and f.provenance.step == "ingest"
                    and f.status != "retracted"}
            wanted = sorted({a for t in types.get(product.id, []) for a in self.applicable(t)} - have)
            if wanted:
                units.append((product.id, {"product": product.model_dump(), "attributes": wanted}))
        return units

    def _units_cleaning(self) -> list[tuple[str, dict]]:
        units = []
        for product in self.products():
            facts = [f for f in self.ledger.facts(subject=product_subject(product.id), status=None)
                     if f.predicate.startswith(ATTRIBUTE_PREFIX) and f.status != "retracted"]
            triples = sorted((f.id, f.predicate[len(ATTRIBUTE_PREFIX):], f.object) for f in facts)
            if triples:
                units.append((product.id, {"product": product.model_dump(), "triples": triples}))
        return units

    def _units_synonyms(self) -> list[tuple[str, dict]]:
        from rapidfuzz import fuzz

        groups = {f"value:{a}": ("value", a, v) for a, v in self.ledger.attribute_values().items()}
        groups["type"] = ("type", None, {t for types in self.graph_types().values() for t in types})
        units = []
        for key, (kind, attribute, labels) in sorted(groups.items()):
            candidates = []
            ordered = sorted(labels)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1:]:
                    similarity = fuzz.token_set_ratio(a.lower(), b.lower())
                    if similarity >= 60:
                        candidates.append((similarity, a, b))
            candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
            pairs = [Pair(a=a, b=b, kind=kind, attribute=attribute).model_dump()
                     for _, a, b in candidates[: self.config.synonym_candidates]]
            if pairs:
                units.append((key, {"key": key, "pairs": pairs}))
        return units

    @property
    def _taxonomy_hash(self) -> str:
        return content_hash([n.model_dump() for n in self.ledger.taxonomy_nodes()])

    # -- what each step learns from ----------------------------------------------------------
    def init_args(self, kind: StepKind) -> tuple:
        if kind in ("type", "imputation", "cleaning"):
            return ([p.model_dump() for p in self.labelled],)
        if kind == "hypernym":
            return ([n.model_dump() for n in self.ledger.taxonomy_nodes()],)
        if kind == "relations":
            return (self.training_attributes(), [n.model_dump() for n in self.ledger.taxonomy_nodes()])
        return (training_pairs(self.labelled),)

    # -- running -----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        before = self._census()
        started = time.time()
        # No stage runs on an empty batch: `--limit 0` means ingest only, and a batch whose every
        # row was rejected has nothing to build.
        for kind in STAGES if self.product_ids else ():
            self.reports.append(self.run_stage(kind))
        after = self._census()
        return self._summary(before, after, time.time() - started)

    def run_stage(self, kind: StepKind) -> StageReport:
        started = time.time()
        method = self.config.method_for(kind)
        settings = self.config.settings(kind)
        spec = StageSpec(kind=kind, method=method, config=settings.config, context=self.context,
                         init_args=self.init_args(kind))
        signature = registry.create(kind, method, context=self.context, **settings.config).signature()
        options = self.config.model_dump(include={"applicable_threshold", "cleaning_threshold",
                                                  "synonym_threshold", "hypernym_k"})
        done = self.ledger.work_done(kind)
        todo, current = [], {}
        for key, payload in self.units(kind):
            digest = content_hash([payload, signature.model_dump(), options])
            current[key] = digest
            if done.get(key, (None,))[0] != digest:
                todo.append((key, digest, payload))
        report = StageReport(step=kind, method=method, units=len(current), skipped=len(current) - len(todo))
        task = self.progress.add_task(f"{kind} ({method})", total=len(todo)) if self.progress else None
        hashes = {key: digest for key, digest, _ in todo}
        try:
            for outputs in run_stage(spec, PROCESSORS[kind], [(k, p) for k, _, p in todo], self.run_id, options,
                                     engine=self.config.engine, workers=self.config.workers,
                                     batch_size=self.config.batch_size):
                self._commit(kind, outputs, hashes, done, report)
                if task is not None:
                    self.progress.advance(task, len(outputs))
        except NotEnoughData as err:  # raised while the step learns, before any unit ran
            if report.done:
                raise
            report.note = f"{kind} ({method}) skipped: {err}"
        else:
            if todo and not spec.init_args[0]:
                report.note = f"{kind} ({method}): no training data, so the step ran untrained"
        self._retire_vanished(kind, done, current, report)
        report.seconds = round(time.time() - started, 3)
        return report

    def _commit(self, kind: StepKind, outputs: list[UnitOutput], hashes: dict[str, str],
                done: dict[str, tuple[str, dict]], report: StageReport) -> None:
        """Facts, retractions and the work record of a batch land in one transaction."""
        with self.ledger.atomic():
            report.facts_added += self.ledger.add_facts(f for output in outputs for f in output.facts)
            for output in outputs:
                previous = done.get(output.key, (None, {}))[1]
                ids = [fact.id for fact in output.facts]
                stale = sorted(set(previous.get("facts", [])) - set(ids))
                report.retracted += self.ledger.set_status(stale, "retracted", self.run_id,
                                                           reason=f"{kind}: no longer asserted")
                self._apply_flags(kind, output, previous.get("flagged", []), report)
                self.ledger.record_work(kind, output.key, hashes[output.key], self.run_id,
                                        {"facts": ids, "flagged": sorted(output.flagged)})
                report.done += 1

    def _apply_flags(self, kind: StepKind, output: UnitOutput, previously: list[str],
                     report: StageReport) -> None:
        for fact_id, reason in output.flagged.items():
            report.flagged += self.ledger.set_status([fact_id], "rejected", self.run_id, f"{kind}: {reason}")
        cleared = sorted(set(previously) - set(output.flagged))
        self.ledger.set_status(cleared, "active", self.run_id, reason=f"{kind}: no longer flagged",
                               only_from="rejected")

    def _retire_vanished(self, kind: StepKind, done: dict[str, tuple[str, dict]],
                         current: dict[str, str], report: StageReport) -> None:
        """Units that no longer exist: a product of the batch with nothing left to do for this
        stage, a type or value gone from the whole graph. Products outside the batch are not
        this build's to retire."""
        batch_keys = set(self.product_ids) if kind in ("type", "imputation", "cleaning") else None
        for key, (_, outputs) in done.items():
            if key in current or (batch_keys is not None and key not in batch_keys):
                continue
            with self.ledger.atomic():
                report.retracted += self.ledger.set_status(outputs.get("facts", []), "retracted",
                                                           self.run_id, reason=f"{kind}: input gone")
                self.ledger.set_status(outputs.get("flagged", []), "active", self.run_id,
                                       reason=f"{kind}: input gone", only_from="rejected")
                self.ledger.record_work(kind, key, "gone", self.run_id, {})

    # -- the summary a person reads -------------------------------------------------------
    def _census(self) -> dict[str, Any]:
        stats = self.ledger.stats()
        return {"facts": stats["facts"]["by_status"].get("active", 0), "types": sorted(self.batch_types()),
                "rejected": stats["facts"]["by_status"].get("rejected", 0)}

    def _summary(self, before: dict, after: dict, seconds: float) -> dict[str, Any]:
        new_types = sorted(set(after["types"]) - set(before["types"]))
        placements = {}
        for name in sorted(set(after["types"]) - self.known_types()):
            path = self._placement(name)
            placements[name] = " > ".join(n.name for n in path) if path else None
        applicable = {t: self.applicable(t) for t in after["types"] if self.applicable(t)}
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


def attributes_by_type(labelled: Iterable[Product]) -> dict[str, list[str]]:
    """Normalised type name -> the attributes its labelled products have values for."""
    known: dict[str, set[str]] = defaultdict(set)
    for product in labelled:
        if product.product_type:
            known[normalise_label(product.product_type)].update(product.attributes)
    return {t: sorted(a) for t, a in known.items()}


def training_pairs(labelled: Sequence[Product]) -> list[dict]:
    """Weak synonym labels from labelled products, for builds with no pair file: a value and
    its case/spacing variant mean the same; two different values of one attribute of one
    type do not."""
    by_attribute: dict[str, set[str]] = defaultdict(set)
    for product in labelled:
        for attribute, values in product.attributes.items():
            by_attribute[attribute].update(values)
    pairs = []
    for attribute, values in sorted(by_attribute.items()):
        ordered = sorted(values)
        by_norm: dict[str, list[str]] = defaultdict(list)
        for value in ordered:
            by_norm[normalise_label(value).replace("-", " ")].append(value)
        for variants in by_norm.values():
            pairs += [Pair(a=a, b=b, attribute=attribute, label=1).model_dump()
                      for a, b in zip(variants, variants[1:])]
        pairs += [Pair(a=a, b=b, attribute=attribute, label=0).model_dump()
                  for a, b in zip(ordered, ordered[1:]) if normalise_label(a) != normalise_label(b)][:50]
    return pairs
