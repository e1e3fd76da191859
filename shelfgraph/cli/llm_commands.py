"""`shelfgraph serve-model`, `check-llm` and `logs`: the model server, which server a URL is,
and the LLM call log."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import LLM_TIMEOUT_S, ApiKeyOpt, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt, llm_config


def serve_model(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="Context window in tokens.")] = 2048,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: $SHELFGRAPH_LLM_THREADS or 1).")] = None,
    adapter: Annotated[Optional[Path], typer.Option(help="Adapter folder from `shelfgraph tune` (or bundled:STEP): served "
                                                    "under its own name (STEP-HASH), which a step with the same adapter asks for.")] = None,
    api_key: Annotated[Optional[str], typer.Option("--api-key", metavar="KEY", show_default=False,
                                                   help="Refuse clients that do not send this key.")] = None,
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
        from shelfgraph.tuning.manifest import model_sha256, open_adapter

        tuned = open_adapter(adapter)  # a failure is one line through the CLI's failure handler
        tuned.check_base(model_sha256(path), PACKAGED_MODEL)
        name, lora = tuned.manifest.served_name(), tuned.gguf
    command = server_command(path, host, port, n_ctx, threads or N_THREADS, name, lora, api_key)
    typer.echo(f"serving {name} at http://{host}:{port}/v1", err=True)
    raise typer.Exit(subprocess.call(command))


def check_llm(
    llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto",
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The answer as one JSON object.")] = False,
) -> None:
    """Ask the model one yes/no question, uncached, and say which server and model answered, the
    server kind and why (which probe decided it), and its structured-output mode. Exits 6 when
    the server is down or refuses the key."""
    from shelfgraph.llm import get_llm
    from shelfgraph.llm.remote import RemoteModel

    client = get_llm(llm_config(llm, model, llm_kind, no_cache=True, timeout_s=llm_timeout, api_key=api_key))
    choice = client.choose("Is water wet? Answer yes or no. Answer:", ["yes", "no"])
    backend = client.backend
    report: dict[str, object] = {"server": backend.server or "in-process", "kind": backend.kind, "model": backend.name}
    if isinstance(backend, RemoteModel):
        report |= {"why": backend.detected_by,
                   "structured_output": backend.spec.mode + (" strict" if backend.spec.strict else "")}
    report |= {"decisions_with_logprobs": choice.confidence is not None,
               "latency_ms": round(choice.call.latency_ms)}
    if as_json:
        typer.echo(json.dumps(report))
        return
    for key, value in report.items():
        typer.echo(f"{key:<24} {value}")


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
    app.command("check-llm")(check_llm)
    app.command("logs")(logs)
