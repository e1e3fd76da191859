"""`shelfgraph build`: ingest a product batch, then run the five AutoKnow steps over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from ..errors import REJECTED_ROWS_EXIT
from .options import (LLM_TIMEOUT_S, METHOD_METAVAR, ApiKeyOpt, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt, NoCacheOpt,
                      llm_config, method_name)


def build(
    catalog: Annotated[list[Path], typer.Argument(help="Catalogue files (JSONL, CSV, Parquet, OA-Mine, WDC-PAVE); "
                                                  "a folder or a quoted glob ('shards/*.parquet') reads every "
                                                  "file it holds.")],
    store: Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file.")] = Path("graph.db"),
    taxonomy: Annotated[Optional[Path], typer.Option(help="Taxonomy to enrich (Shopify folder, Google "
                                                     "taxonomy-with-ids, CSV id,name,parent_id).", exists=True)] = None,
    reviews: Annotated[Optional[list[Path]], typer.Option(help="Reviews / Q&A JSONL.", exists=True)] = None,
    labelled: Annotated[Optional[list[Path]], typer.Option(
        help="Labelled products the steps learn from (any catalogue format with attribute values); "
             "default: the store's products that came with values.", exists=True)] = None,
    method: Annotated[Optional[str], typer.Option(parser=method_name, metavar=METHOD_METAVAR,
                                                  help="For every step (per step in --config).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML: method, per-step \\[steps.<kind>] method and "
                                                   "config, thresholds, batch size.", exists=True)] = None,
    limit: Annotated[Optional[int], typer.Option(min=0, help="Only the first N products of the batch "
                                                 "(0: ingest only).")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Parallel workers (Ray engine).")] = None,
    engine: Annotated[Optional[Literal["local", "ray"]], typer.Option(help="Where steps run.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; the summary as JSON.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as one JSON object.")] = False,
    llm: LLMOpt = "local",
    model: ModelOpt = None,
    llm_kind: LLMKindOpt = "auto",
    no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Grow the graph: ingest, then type extraction and hypernym placement, relation discovery,
    imputation, cleaning and synonym finding. Killed and restarted, it resumes; re-run on
    unchanged input, it does no model work."""
    from ..api import Graph

    with Graph(store) as graph:
        summary = graph.build(catalog, taxonomy=taxonomy, reviews=reviews, labelled=labelled, method=method,
                              config=config, limit=limit, workers=workers, engine=engine,
                              llm=llm_config(llm, model, llm_kind, no_cache, llm_timeout, api_key),
                              progress=not quiet).summary
    rejected = summary["rejected_rows"]
    if quiet or as_json:
        typer.echo(json.dumps(summary))
    else:
        from ..summary import print_summary

        print_summary(summary)
    if rejected:
        from ..ingest import rejected_rows_path

        typer.echo(f"{rejected} input rows rejected (see {rejected_rows_path(store)})", err=True)
        raise typer.Exit(REJECTED_ROWS_EXIT)


def register(app: typer.Typer) -> None:
    app.command()(build)
