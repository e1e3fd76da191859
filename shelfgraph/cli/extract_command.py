"""`shelfgraph extract`: attribute values of a product batch into a file, no graph built."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .options import (LLM_TIMEOUT_S, METHOD_METAVAR, ApiKeyOpt, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt, NoCacheOpt,
                      StepSetOpt, llm_config, method_name, step_settings)

if TYPE_CHECKING:
    from ..ingest import RejectedRow
    from ..models import Product


def read_catalogues(paths: list[Path]) -> tuple[list["Product"], list["RejectedRow"]]:
    """The products of catalogue files as `ingest` reads them (an id may appear once in the
    batch), and the rows rejected, each naming its file and line."""
    from ..errors import InputError
    from ..ingest import TAXONOMY_FORMATS, RejectedRow, RowError, detect_format, read_products

    products, rejected, seen = [], [], {}
    for path in paths:
        try:
            fmt = detect_format(path)
        except RowError as error:
            raise InputError(str(error)) from error
        if fmt in (*TAXONOMY_FORMATS, "texts"):
            raise InputError(f"{path} reads as {fmt}, not as a catalogue of products")
        for item in read_products(path, fmt, seen):
            (rejected if isinstance(item, RejectedRow) else products).append(item)
    return products, rejected


def extract(
    catalog: Annotated[list[Path], typer.Argument(help="Catalogue files (JSONL, CSV, Parquet, OA-Mine, WDC-PAVE).",
                                                  exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the values go: FILE.jsonl, FILE.csv or "
                                                          "FILE.parquet, one row per product and attribute.")],
    labelled: Annotated[Optional[list[Path]], typer.Option(
        help="Labelled products the step learns from (OA-Mine, WDC-PAVE, or catalogue rows with values); "
             "default: the batch's products that come with values.", exists=True, dir_okay=False)] = None,
    method: Annotated[str, typer.Option(parser=method_name, metavar=METHOD_METAVAR,
                                        help="Imputation method.")] = "baseline",
    attributes: Annotated[Optional[str], typer.Option(
        help="Attributes to look for in every product, comma-separated (e.g. Brand,Flavor); default: "
             "those the labelled products of its type have.")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="Prompt NAME@VERSION for LLM methods.")] = None,
    step_set: StepSetOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as one JSON object.")] = False,
    llm: LLMOpt = "local",
    model: ModelOpt = None,
    llm_kind: LLMKindOpt = "auto",
    no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Extract attribute values from a batch without building a graph: each with its span
    (field, start, end), confidence, method, model and prompt. Killed and run again, model
    answers come from the call cache. Bad rows are reported with file and line and exit 3."""
    from ..buildrun import llm_call_stats, read_labelled
    from ..context import shelfgraph_home
    from ..errors import REJECTED_ROWS_EXIT
    from ..extraction import extract_products, output_suffix, wanted_attributes, write_values
    from ..ingest import rejected_rows_path, write_rejected
    from ..terminal import safe_text

    output_suffix(out)
    started = time.time()
    products, rejected = read_catalogues(catalog)
    training = read_labelled(labelled) if labelled else [p for p in products if p.attributes]
    names = [a.strip() for a in attributes.split(",") if a.strip()] if attributes else None
    values = extract_products(products, labelled=training, method=method, attributes=names,
                              llm=llm_config(llm, model, llm_kind, no_cache, llm_timeout, api_key), config=step_settings(step_set, prompt),
                              progress=not quiet)
    write_values(values, out)
    rejected_rows_path(out).unlink(missing_ok=True)  # it goes with this output, not with earlier runs
    unsearched = sum(1 for wanted in wanted_attributes(products, training, names) if not wanted)
    summary = {"out": str(out), "products": len(products), "values": len(values),
               "attributes": len({v.attribute for v in values}), "products_not_searched": unsearched,
               "rejected_rows": write_rejected(rejected, rejected_rows_path(out)), "method": method,
               "llm": llm_call_stats(shelfgraph_home(), since=started), "seconds": round(time.time() - started, 2)}
    for row in rejected:
        typer.echo(f"rejected {safe_text(row.message())}", err=True)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"{summary['values']} values of {summary['attributes']} attributes from {len(products)} products "
                   f"-> {out} in {summary['seconds']} s; model calls {summary['llm']['calls']} "
                   f"(cache hits {summary['llm']['cache_hits']})")
        if unsearched:
            typer.echo(f"{unsearched} products had no attribute to look for (no labelled products of their "
                       "type); name some with --attributes", err=True)
    if rejected:
        typer.echo(f"{len(rejected)} input rows rejected (see {rejected_rows_path(out)})", err=True)
        raise typer.Exit(REJECTED_ROWS_EXIT)


def register(app: typer.Typer) -> None:
    app.command()(extract)
