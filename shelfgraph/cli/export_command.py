"""`shelfgraph export`: the graph in another format, with provenance and confidence. The
formats are the names of `export.EXPORTERS`, so a new exporter needs no change here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from ..export import EXPORTERS

Format = Literal[tuple(EXPORTERS)]  # type: ignore[valid-type]  # typer lists and checks the names


def export(
    store: Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file.", exists=True)],
    format: Annotated[Format, typer.Option("--format", "-f", help="RDF, JSON lines, Neo4j import files or Parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (a folder for neo4j-csv).")],
    all_statuses: Annotated[bool, typer.Option("--all", help="Also rejected and retracted facts.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The files written, as one JSON object.")] = False,
) -> None:
    """Export the graph with provenance and confidence: RDF (schema.org + SKOS), JSONL,
    Parquet, or Neo4j admin-import CSVs."""
    from ..api import Graph

    with Graph(store, read_only=True) as graph:
        files = graph.export(format, out, all_statuses=all_statuses)
    if as_json:
        typer.echo(json.dumps({"format": format, "files": [str(f) for f in files]}))
        return
    for file in files:
        typer.echo(str(file))


def register(app: typer.Typer) -> None:
    app.command()(export)
