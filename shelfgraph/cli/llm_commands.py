"""`shelfgraph serve-model` and `shelfgraph logs`: the model server and the LLM call log."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated, Optional

import typer


def serve_model(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="Context window in tokens.")] = 2048,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: $SHELFGRAPH_LLM_THREADS or 1).")] = None,
    adapter: Annotated[Optional[Path], typer.Option(help="Adapter folder from `shelfgraph tune`: served under its "
                                                    "own name (STEP-HASH), which a step with the same adapter asks for.")] = None,
) -> None:
    """Serve the packaged Gemma 3 270M with llama.cpp's OpenAI-compatible server
    (then: shelfgraph ... --llm http://HOST:PORT)."""
    from shelfgraph.context import shelfgraph_home
    from shelfgraph.extras import require
    from shelfgraph.llm.local import N_THREADS, PACKAGED_MODEL, packaged_model_path
    from shelfgraph.llm.server import server_command

    require("server", "shelfgraph serve-model")
    path, name, lora = packaged_model_path(shelfgraph_home()), PACKAGED_MODEL, None
    if adapter is not None:
        from shelfgraph.errors import ShelfgraphError
        from shelfgraph.tuning.manifest import model_sha256, open_adapter

        try:
            tuned = open_adapter(adapter)
            tuned.check_base(model_sha256(path), PACKAGED_MODEL)
        except ShelfgraphError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        name, lora = tuned.manifest.served_name(), tuned.gguf
    command = server_command(path, host, port, n_ctx, threads or N_THREADS, name, lora)
    typer.echo(f"serving {name} at http://{host}:{port}/v1", err=True)
    raise typer.Exit(subprocess.call(command))


def logs(
    n: Annotated[int, typer.Option("-n", min=1, help="How many recent calls.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line, all fields.")] = False,
) -> None:
    """The most recent LLM calls: model, prompt, tokens, latency, cache hits, errors."""
    from rich.console import Console
    from rich.table import Table

    from shelfgraph.context import shelfgraph_home
    from shelfgraph.llm.calllog import CallLog
    from shelfgraph.terminal import safe_markup

    path = shelfgraph_home() / "logs.db"
    if not path.exists():
        typer.echo(f"no calls logged yet ({path} does not exist)", err=True)
        raise typer.Exit(0)
    log = CallLog(path)
    rows = log.recent(n)
    log.close()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table("id", "model", "verb", "prompt", "in", "out", "ms", "cached", "result")
    for row in rows:
        result = f"ERROR {row['error']}" if row["error"] else (row["output"] or "")
        cells = [row["id"], row["model"], row["verb"], row["prompt_ref"] or "-", row["tokens_in"] or "-",
                 row["tokens_out"] or "-", f"{row['latency_ms']:.0f}", "yes" if row["cached"] else "", result[:60]]
        table.add_row(*map(safe_markup, cells))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("serve-model")(serve_model)
    app.command("logs")(logs)
