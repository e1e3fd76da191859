"""The `shelfgraph` command: one typer app; each module here adds its own commands.

A command module defines `register(app: typer.Typer)`. Heavy imports stay inside the
command functions so that `shelfgraph --help` is instant.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    help="Build and grow a product knowledge graph from a retail catalogue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_module.name}").register(app)
