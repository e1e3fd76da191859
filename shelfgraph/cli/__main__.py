"""`python -m shelfgraph.cli`, the same as the `shelfgraph` command."""

from . import app

app(prog_name="shelfgraph")
