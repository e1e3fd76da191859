"""`shelfgraph build`: ingest a product batch, then run the five AutoKnow steps over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import REJECTED_ROWS_EXIT
from .options import LLM_TIMEOUT_S, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt, NoCacheOpt, llm_config


def build(
    catalog: Annotated[list[Path], typer.Argument(help="Catalogue files (JSONL, CSV, Parquet, OA-Mine, WDC-PAVE).",
                                                  exists=True)],
    store: Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file.")] = Path("graph.db"),
    taxonomy: Annotated[Optional[Path], typer.Option(help="Taxonomy to enrich (Shopify folder, Google "
                                                     "taxonomy-with-ids, CSV id,name,parent_id).", exists=True)] = None,
    reviews: Annotated[Optional[list[Path]], typer.Option(help="Reviews / Q&A JSONL.", exists=True)] = None,
    labelled: Annotated[Optional[list[Path]], typer.Option(
        help="Labelled products the steps learn from (any catalogue format with attribute values); "
             "default: the store's products that came with values.", exists=True)] = None,
    method: Annotated[Optional[str], typer.Option(help="agent | baseline | hybrid, for every step "
                                                  "(per step in --config).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML: method, per-step [steps.<kind>] method and "
                                                   "config, thresholds, batch size.", exists=True)] = None,
    limit: Annotated[Optional[int], typer.Option(min=0, help="Only the first N products of the batch "
                                                 "(0: ingest only).")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Parallel workers (Ray engine).")] = None,
    engine: Annotated[Optional[str], typer.Option(help="local | ray")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; the summary as JSON.")] = False,
    llm: LLMOpt = "local",
    model: ModelOpt = None,
    llm_kind: LLMKindOpt = "auto",
    no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S,
) -> None:
    """Grow the graph: ingest, then type extraction and hypernym placement, relation discovery,
    imputation, cleaning and synonym finding. Killed and restarted, it resumes; re-run on
    unchanged input, it does no model work."""
    from ..buildrun import run_build
    from ..pipeline import BuildConfig

    build_config = BuildConfig.from_toml(config, method=method, limit=limit, workers=workers, engine=engine)
    summary, rejected = run_build(
        store=store, catalog=catalog, taxonomy=taxonomy, reviews=reviews or [], labelled=labelled or [],
        config=build_config, llm=llm_config(llm, model, llm_kind, no_cache, llm_timeout), quiet=quiet,
    )
    if quiet:
        typer.echo(json.dumps(summary))
    else:
        from ..summary import print_summary

        print_summary(summary)
    if rejected:
        from ..ingest import rejected_rows_path

        typer.echo(f"{rejected} input rows rejected (see {rejected_rows_path(store)})", err=True)
        raise typer.Exit(REJECTED_ROWS_EXIT)


def export(
    store: Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file.", exists=True)],
    format: Annotated[str, typer.Option("--format", "-f", help="turtle | jsonld | jsonl | neo4j-csv | parquet")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (a folder for neo4j-csv).")],
    all_statuses: Annotated[bool, typer.Option("--all", help="Also rejected and retracted facts.")] = False,
) -> None:
    """Export the graph with provenance and confidence: RDF (schema.org + SKOS), JSONL,
    Parquet, or Neo4j admin-import CSVs."""
    from ..export import export as write_export
    from ..store import Ledger

    formats = ("turtle", "jsonld", "jsonl", "neo4j-csv", "parquet")
    if format not in formats:
        raise typer.BadParameter(f"{format!r}; valid: {', '.join(formats)}", param_hint="--format")
    with Ledger(store, read_only=True) as ledger:
        files = write_export(ledger, format, out, include_all=all_statuses)
    for file in files:
        typer.echo(str(file))


def register(app: typer.Typer) -> None:
    app.command()(build)
    app.command()(export)
