"""Attribute values of a batch of products, without building a graph (`shelfgraph extract`).

The imputation step is built from the registry by name and run by the build's own stage
engine and imputation stage (`engines.run_stage`, `stages/imputation.py`), so a value
comes out exactly as the build would store it: found in the product's own text at recorded
offsets, with its confidence, method, model and prompt. LLM calls go through the call log,
so a killed run started again answers from the cache what it had already asked.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .context import LLMConfig
from .errors import UsageError
from .models import ATTRIBUTE_PREFIX, Product, normalise_label

if TYPE_CHECKING:
    from .api import LLMLike, PathLike

OUTPUT_SUFFIXES = (".jsonl", ".csv", ".parquet")


class ExtractedValue(BaseModel):
    """One attribute value found in one product's text: `text_of(field)[start:end] == value`."""

    product_id: str
    attribute: str
    value: str
    field: str  # title, description, review:<id> or qa:<id>
    start: int
    end: int
    confidence: float | None = None
    method: str
    model: str | None = None
    prompt: str | None = None  # name@version#hash of the rendered template


def wanted_attributes(products: Sequence[Product], labelled: Sequence[Product],
                      attributes: Sequence[str] | None = None) -> list[list[str]]:
    """What to look for in each product: `attributes` when given, else the attributes the
    labelled products of its type have values for (none for a type they do not have)."""
    if attributes:
        return [list(attributes) for _ in products]
    from .stages.relations import attributes_by_type

    by_type = attributes_by_type(labelled)
    return [by_type.get(normalise_label(p.product_type), []) if p.product_type else [] for p in products]


def extract_products(
    products: Sequence[Product], *, labelled: Sequence[Product], method: str = "baseline",
    attributes: Sequence[str] | None = None, llm: LLMConfig | None = None, config: Mapping[str, Any] | None = None,
    batch_size: int = 16, progress: bool = False,
) -> list[ExtractedValue]:
    """Values of `products`, by an imputation step of `method` trained on `labelled`."""
    from .context import StepContext
    from .engines import StageSpec, run_stage
    from .progress import progress_bar
    from .registry import create
    from .stages.imputation import ImputationUnit

    if not labelled:
        raise UsageError("extraction learns from labelled products and got none: give some (OA-Mine or "
                         "WDC-PAVE lines, or catalogue rows with attribute values), e.g. --labelled FILE")
    wanted = wanted_attributes(products, labelled, attributes)
    units = [ImputationUnit(product=p, attributes=w) for p, w in zip(products, wanted) if w]
    spec = StageSpec(kind="imputation", method=method, config=dict(config or {}),
                     context=StepContext(llm=llm or LLMConfig()), training=(list(labelled),))
    step = create(spec.kind, method, context=spec.context, **spec.config)
    values: list[ExtractedValue] = []
    with progress_bar(progress) as bar:
        task = bar.add_task(f"extraction ({method})", total=len(units))
        for batch in run_stage(spec, step, units, "extract", {}, batch_size=batch_size):
            for output in batch.outputs:
                values += [ExtractedValue(
                    product_id=output.key, attribute=fact.predicate[len(ATTRIBUTE_PREFIX):], value=fact.object,
                    field=fact.provenance.source_field, start=fact.provenance.start, end=fact.provenance.end,
                    confidence=fact.confidence, method=fact.provenance.method, model=fact.provenance.model,
                    prompt=fact.provenance.prompt) for fact in output.facts]
            bar.advance(task, len(batch.outputs))
    return values


def as_products(records: Iterable[Product | Mapping[str, Any]], what: str = "records") -> list[Product]:
    """Products from Product objects or catalogue records (dicts as `shelfgraph ingest` reads them)."""
    from .ingest import product_from_catalog

    products = []
    for index, record in enumerate(records):
        if isinstance(record, Product):
            products.append(record)
            continue
        try:
            products.append(product_from_catalog(dict(record)))
        except (ValueError, TypeError, ValidationError) as error:
            raise ValueError(f"{what}[{index}]: {error}") from None
    return products


def extract(
    records: Iterable[Product | Mapping[str, Any]], *, method: str = "baseline",
    labelled: "PathLike | Sequence[PathLike] | Sequence[Product | Mapping[str, Any]] | None" = None,
    attributes: Sequence[str] | None = None, llm: "LLMLike" = "local", config: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> list[ExtractedValue]:
    """Attribute values found in each record's text, typed, with spans and confidence.

    `records`: Products or catalogue dicts (`id`, `title`, `description`, `product_type`...).
    `labelled`: what the step learns from, as labelled files (OA-Mine, WDC-PAVE, catalogues
    with values) or products; default: the records that come with values. `attributes`: what
    to look for in every record; default: the labelled attributes of each record's type.
    `config`: the step's settings (e.g. {"prompt": "imputation@v2"} for the agent)."""
    from .api import llm_settings

    products = as_products(records)
    return extract_products(products, labelled=_training(labelled, products), method=method, attributes=attributes,
                            llm=llm_settings(llm), config=config, progress=progress)


def _training(labelled: Any, products: list[Product]) -> list[Product]:
    if labelled is None:
        return [p for p in products if p.attributes]
    items = [labelled] if isinstance(labelled, (str, os.PathLike)) else list(labelled)
    if items and all(isinstance(item, (str, os.PathLike)) for item in items):
        from .buildrun import read_labelled

        return read_labelled([Path(item) for item in items])
    return as_products(items, "labelled")


def output_suffix(path: Path) -> str:
    """The format of an output file, told by its suffix (checked before any work is done)."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise UsageError(f"{path}: the output's suffix says its format; use one of {', '.join(OUTPUT_SUFFIXES)}")
    return suffix


def write_values(values: Sequence[ExtractedValue], path: Path) -> None:
    """JSONL, CSV or Parquet by the file's suffix, one row per value; written whole or not at
    all (a temporary file renamed into place)."""
    suffix = output_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    rows = [v.model_dump() for v in values]
    if suffix == ".jsonl":
        partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif suffix == ".csv":
        with partial.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(ExtractedValue.model_fields))
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        text, number = pa.string(), pa.int64()
        types = {"start": number, "end": number, "confidence": pa.float64()}
        schema = pa.schema([(name, types.get(name, text)) for name in ExtractedValue.model_fields])
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), partial)
    os.replace(partial, path)
