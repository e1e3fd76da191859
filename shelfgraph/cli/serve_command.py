"""`shelfgraph serve`: the graph in a web browser (overview, products with their evidence,
taxonomy, attributes, ask, review, eval runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from ..extras import require
from .options import LLM_TIMEOUT_S, ApiKeyOpt, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt, NoCacheOpt, llm_config


def serve(
    store: Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file.")] = Path("graph.db"),
    host: Annotated[str, typer.Option(
        help="Address to listen on; the default serves this machine only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    allow_review: Annotated[bool, typer.Option(
        "--allow-review", help="Let the review page accept, reject and correct facts (writes to the store); "
                               "without it nothing is ever written.")] = False,
    reviewer: Annotated[str, typer.Option(help="Name recorded with each review decision; default: your login.")] = "",
    runs_dir: Annotated[Path, typer.Option(help="Saved eval runs shown on the eval pages.")] = Path("runs"),
    index_dir: Annotated[Optional[Path], typer.Option(
        "--index-dir", help="Chroma folder for questions about product texts; default: <store>.chroma.")] = None,
    no_llm: Annotated[bool, typer.Option(
        "--no-llm", help="Never load the model (questions with no cue word are lists).")] = False,
    llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto", no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Serve a web page over the graph: read-only unless --allow-review, on 127.0.0.1 unless --host."""
    require("server", "shelfgraph serve")
    import uvicorn

    from shelfgraph.eval.web import router as eval_pages

    from ..web.app import WebSettings, create_app

    if not store.is_file():
        raise InputError(f"no graph at {store}; create one with `shelfgraph build` or `shelfgraph ingest`")
    config = llm_config(llm, model, llm_kind, no_cache, llm_timeout, api_key)

    def session():  # made on the first question, so starting the server loads no model
        from shelfgraph.retrieval.index import text_search

        from ..llm import get_llm
        from ..qa import Session

        return Session(store, llm=None if no_llm else (lambda: get_llm(config)), texts=text_search(store, index_dir))

    app = create_app(WebSettings(store=store, host=host, allow_review=allow_review, reviewer=reviewer,
                                 runs_dir=runs_dir, session=session, eval_pages=eval_pages))
    mode = "review on: decisions are written to the store" if allow_review else "read-only"
    typer.echo(f"shelfgraph: serving {store} ({mode}) on http://{host}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command()(serve)
