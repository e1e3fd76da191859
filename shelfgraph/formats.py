"""Names of the formats the graph is written in, in a module that loads nothing else: the CLI
imports them to list the choices in `--help`, which must stay instant."""

from __future__ import annotations

from typing import Literal

ExportFormat = Literal["turtle", "jsonld", "jsonl", "neo4j-csv", "parquet"]
