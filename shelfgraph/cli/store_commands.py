"""`ingest`, `stats` and `show`: getting data into the ledger and looking at it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import REJECTED_ROWS_EXIT, InputError, ShelfgraphError

StoreOption = Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file.")]


def ingest(
    files: Annotated[list[Path], typer.Argument(help="Catalogues (JSONL, CSV, Parquet, OA-Mine, WDC-PAVE), "
                                                "review/Q&A JSONL, or taxonomies; a folder or a quoted glob "
                                                "('shards/*.parquet') reads every file it holds.")],
    store: StoreOption = Path("graph.db"),
    taxonomy: Annotated[Optional[list[Path]], typer.Option(help="Taxonomy: Shopify folder, Google "
                                                           "taxonomy-with-ids file or CSV.", exists=True)] = None,
    reviews: Annotated[Optional[list[Path]], typer.Option(help="Reviews / Q&A JSONL (product_id, text).",
                                                          exists=True)] = None,
    rejected: Annotated[Optional[Path], typer.Option(help="Where rejected rows go (JSONL); default "
                                                     "<store>.rejected.jsonl")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Read products, texts and taxonomies into the graph. Bad rows are reported with file and
    line, written to the rejected-rows file, and the exit status is 3; the rest is stored."""
    from ..ingest import ingest_paths, rejected_rows_path, write_rejected
    from ..store import Ledger
    from ..terminal import safe_text

    paths = [*(taxonomy or []), *files, *(reviews or [])]
    with Ledger(store, exclusive=True) as ledger, ledger.recorded_run(
            "ingest", {"files": [str(p) for p in paths]}) as run:
        reports = ingest_paths(ledger, paths, run.id)
        bad = [row for r in reports for row in r.rejected]
        rejected_path = rejected or rejected_rows_path(store)
        write_rejected(bad, rejected_path)
        run.summary.update(reports=[r.model_dump(exclude={"rejected"}) for r in reports], rejected=len(bad))
    for row in bad:
        typer.echo(f"rejected {safe_text(row.message())}", err=True)
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in reports]))
    else:
        for r in reports:
            typer.echo(f"{r.file} ({r.format}): {r.products} products ({r.changed} new or changed), "
                       f"{r.facts} new facts, {r.texts} texts, {r.taxonomy_nodes} taxonomy nodes, "
                       f"{len(r.rejected)} rejected")
    if bad:
        typer.echo(f"{len(bad)} rows rejected; see {rejected_path}", err=True)
        raise typer.Exit(REJECTED_ROWS_EXIT)


def stats(
    store: StoreOption = Path("graph.db"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Counts of products, types, taxonomy nodes and facts by status and predicate (the
    attribute predicates grouped, the most frequent named)."""
    from ..api import Graph
    from ..summary import print_stats

    _require(store)
    with Graph(store, read_only=True) as graph:
        counts = graph.stats()
    if as_json:
        typer.echo(json.dumps(counts))
        return
    print_stats(store, counts)


def show(
    product_id: Annotated[str, typer.Argument(help="A product id (see `stats` or `export`).")],
    store: StoreOption = Path("graph.db"),
    all_statuses: Annotated[bool, typer.Option("--all", help="Also rejected and retracted facts.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A product's text and every fact about it, with provenance and evidence (the span it was
    read from, in its context)."""
    from ..api import Graph

    _require(store)
    with Graph(store, read_only=True) as graph:
        product = graph.product(product_id)
        if product is None:
            raise ShelfgraphError(f"no product {product_id!r} in {store}; `shelfgraph export` lists them")
        facts = graph.facts(product_id, status=None if all_statuses else "active")
    if as_json:
        typer.echo(json.dumps({"product": product.model_dump(),
                               "facts": [dict(id=f.id, **f.model_dump()) for f in facts]}))
        return
    from rich.console import Console
    from rich.table import Table

    from ..terminal import evidence_markup, safe_markup

    console = Console()
    console.print(f"[bold]{safe_markup(product.id)}[/] {safe_markup(product.title)}")
    table = Table("predicate", "object", "conf", "status", "evidence", "step/method", "model", "prompt", "run")
    for fact in facts:
        p = fact.provenance
        cells = [fact.predicate, fact.object, "" if fact.confidence is None else f"{fact.confidence:.2f}",
                 fact.status, f"{p.step}/{p.method}", p.model or "", p.prompt or "", p.run_id]
        markup = list(map(safe_markup, cells))
        table.add_row(*markup[:4], evidence_markup(product, p.source_field, p.start, p.end), *markup[4:])
    console.print(table)


def _require(store: Path) -> None:
    if not store.exists():
        raise InputError(f"{store} does not exist; create it with `shelfgraph ingest FILE --store {store}`")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(stats)
    app.command()(show)
