"""The `shelfgraph eval` sub-app. Eval command modules decorate `eval_app`; this module only
attaches it to the main app (it sorts first, so the sub-app exists before they load)."""

from __future__ import annotations

import typer

eval_app = typer.Typer(
    help="Compare agents, baselines, prompts and models on the same data; saved runs, diffs, reports.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
