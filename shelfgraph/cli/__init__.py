"""The `shelfgraph` command: one typer app; each module here adds its own commands.

A command module defines `register(app: typer.Typer)`. Heavy imports stay inside the
command functions so that `shelfgraph --help` is instant. A failure ends as one line and an
exit status (`failures.py`, docs/exit-status.md).
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from .failures import ShelfgraphGroup, root

app = typer.Typer(
    cls=ShelfgraphGroup,
    help="Build and grow a product knowledge graph from a retail catalogue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.callback()(root)

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _module.name != "__main__":
        importlib.import_module(f"{__name__}.{_module.name}").register(app)
