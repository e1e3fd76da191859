"""`shelfgraph index`: embed the store's products, evidence, examples and taxonomy into Chroma."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError, UsageError

# The set the store's own examples and taxonomy are indexed as: one set, updated as they change
# (a run's steps index their own training data and taxonomy under their content hashes).
STORE_SCOPE = "store"


def index_store(store: Path, index_dir: Path | None = None, chroma_url: str | None = None) -> dict[str, int]:
    """Index everything in the ledger at `store`; returns how many new or changed records each
    collection took (labelled examples reuse their product's vector)."""
    from shelfgraph.retrieval.index import CatalogIndex, IndexCounts
    from shelfgraph.context import index_beside
    from shelfgraph.store import Ledger

    if not store.exists():
        raise InputError(f"no graph at {store}; create one with `shelfgraph ingest`")
    try:
        index = CatalogIndex.open(path=None if chroma_url else (index_dir or index_beside(store)), url=chroma_url)
    except ValueError as error:  # a --chroma-url that is not one
        raise UsageError(str(error)) from error
    with Ledger(store) as ledger:
        products = list(ledger.products())
        nodes = ledger.taxonomy_nodes()
    counts = IndexCounts(
        products=index.index_products(products),
        chunks=index.index_chunks(products),
        examples=index.index_examples(products, STORE_SCOPE),
        taxonomy=index.index_taxonomy(nodes, STORE_SCOPE),
    )
    return counts.model_dump()


def register(app: typer.Typer) -> None:
    @app.command("index")
    def index_cli(
        store: Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file.")] = Path("graph.db"),
        index_dir: Annotated[Optional[Path], typer.Option(
            help="Chroma folder; default: <store>.chroma beside the graph.")] = None,
        chroma_url: Annotated[Optional[str], typer.Option(
            help="A Chroma server (http://host:port) instead of a folder, when several processes write.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="The counts as one JSON object.")] = False,
    ) -> None:
        """Embed the graph's products, evidence sentences, labelled examples and taxonomy for
        retrieval. Only what is new or changed is embedded: a second run embeds nothing."""
        counts = index_store(store, index_dir, chroma_url)
        if as_json:
            typer.echo(json.dumps(counts))
            return
        for name, count in counts.items():
            typer.echo(f"{name}: {count} new or changed")
