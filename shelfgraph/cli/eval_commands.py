"""`shelfgraph eval extraction|compare|report`: run, save and compare extraction evals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from ._eval_app import eval_app
from .options import (LLM_TIMEOUT_S, METHOD_METAVAR, ApiKeyOpt, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt, NoCacheOpt,
                      StepSetOpt, llm_config, method_name, step_settings)

RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Where eval runs are saved (one folder per run).")]


@eval_app.command("extraction")
def extraction(
    train: Annotated[Path, typer.Option("--train", exists=True, dir_okay=False,
                                        help="Training JSONL (OA-Mine or WDC-PAVE format).")],
    test: Annotated[Path, typer.Option("--test", exists=True, dir_okay=False, help="Test JSONL (same formats).")],
    method: Annotated[str, typer.Option(parser=method_name, metavar=METHOD_METAVAR, help="Imputation method.")] = "baseline",
    prompt: Annotated[Optional[str], typer.Option(help="Prompt NAME@VERSION for LLM methods.")] = None,
    llm: LLMOpt = "local",
    model: ModelOpt = None,
    llm_kind: LLMKindOpt = "auto",
    no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N test records.")] = None,
    predictions: Annotated[Optional[Path], typer.Option(help="Write one JSON object per test line here.")] = None,
    runs_dir: RunsDir = Path("runs"),
    save_model: Annotated[Optional[Path], typer.Option(help="Also save the trained step here.")] = None,
    load_model: Annotated[Optional[Path], typer.Option(exists=True, file_okay=False,
                                                       help="Load a step saved with --save-model instead of training.")] = None,
    step_set: StepSetOpt = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Train on TRAIN only, predict TEST, print the metrics as JSON on the last line."""
    from shelfgraph.eval.datasets import load_records
    from shelfgraph.eval.extraction import TASK, StepConfigError, evaluate_extraction
    from shelfgraph.eval.runs import save_run
    from shelfgraph.context import StepContext

    try:
        train_records, test_records = load_records(train), load_records(test)
    except ValueError as error:
        raise InputError(str(error)) from None
    llm_settings = llm_config(llm, model, llm_kind, no_cache, llm_timeout, api_key)
    step_config = step_settings(step_set, prompt)
    try:
        metrics, rows, step = evaluate_extraction(
            train_records, test_records, method, context=StepContext(llm=llm_settings), limit=limit,
            progress=progress, step_config=step_config, step_dir=load_model)
    except StepConfigError as error:  # unknown method, or e.g. --prompt for the baseline
        raise typer.BadParameter(str(error), param_hint="--method") from None
    signature = step.signature()
    config = {"method": method, "train": str(train), "test": str(test), "limit": limit, "prompt": prompt,
              "step_config": step_config, "load_model": str(load_model) if load_model else None,
              "llm": llm_settings.model_dump()}
    run_path = save_run(runs_dir, TASK, config, metrics, rows,
                        extra={"model": signature.model, "prompt": signature.prompt, "signature": signature.model_dump()})
    if predictions is not None:
        predictions.parent.mkdir(parents=True, exist_ok=True)
        with open(predictions, "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row["pred"], ensure_ascii=False) + "\n")
    if save_model is not None:
        step.to_disk(save_model)
    typer.echo(f"run saved to {run_path}", err=True)
    typer.echo(json.dumps({**metrics, "run": run_path.name}))


@eval_app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(help="Run folder, id, id prefix or 'latest'.")],
    run_b: Annotated[str, typer.Argument(help="Run folder, id, id prefix or 'latest'.")],
    runs_dir: RunsDir = Path("runs"),
    show: Annotated[int, typer.Option(help="How many changed examples to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole comparison as JSON.")] = False,
) -> None:
    """Metric deltas (B - A) and the examples whose prediction changed."""
    from shelfgraph.eval.runs import compare_runs, load_run
    from shelfgraph.terminal import safe_text

    try:
        diff = compare_runs(load_run(run_a, runs_dir), load_run(run_b, runs_dir))
    except (FileNotFoundError, ValueError) as error:
        raise typer.BadParameter(str(error)) from None
    if as_json:
        typer.echo(json.dumps(diff, ensure_ascii=False, default=str))
        return
    typer.echo(f"{diff['task']}: A = {diff['a']}  B = {diff['b']}")
    for name, m in diff["metrics"].items():
        delta = f"{m['delta']:+.4g}" if m["delta"] is not None else ""
        typer.echo(f"  {name:<14} {str(m['a']):>12} -> {str(m['b']):<12} {delta}")
    typer.echo(f"{len(diff['changed'])} of {diff['compared']} examples changed"
               + (f" ({diff['only_in_a']} only in A, {diff['only_in_b']} only in B)"
                  if diff["only_in_a"] or diff["only_in_b"] else ""))
    for change in diff["changed"][:show]:
        a, b = change["a"], change["b"]
        label = change["row"].get("title") or change["row"].get("text") or ""
        typer.echo(safe_text(f"- {change['key']}: {label}"))
        if isinstance(a, dict) and isinstance(b, dict):
            for key in dict.fromkeys([*a, *b]):
                if a.get(key) != b.get(key):
                    gold = (change["gold"] or {}).get(key) if isinstance(change["gold"], dict) else None
                    moved = change.get("outcomes", {}).get(key)
                    outcome = f" ({moved[0]} -> {moved[1]})" if moved else " (not scored)" if "outcomes" in change else ""
                    typer.echo(f"    {safe_text(key)}: {a.get(key)!r} -> {b.get(key)!r}   gold {gold!r}{outcome}")
        else:
            typer.echo(f"    {a!r} -> {b!r}   gold {change['gold']!r}")


@eval_app.command("report")
def report(
    runs: Annotated[Optional[list[str]], typer.Argument(help="Runs to include (default: every saved run).")] = None,
    runs_dir: RunsDir = Path("runs"),
    out: Annotated[Path, typer.Option(help="Markdown file to write; plots go beside it.")] = Path("eval-report.md"),
) -> None:
    """Write a markdown report: metrics per run, per-attribute scores and PNG plots."""
    from shelfgraph.eval.report import write_report
    from shelfgraph.eval.runs import list_runs, load_run

    try:
        selected = [load_run(r, runs_dir) for r in runs] if runs else [load_run(p) for p in list_runs(runs_dir)]
    except (FileNotFoundError, ValueError) as error:
        raise typer.BadParameter(str(error)) from None
    if not selected:
        raise typer.BadParameter(f"no saved runs in {runs_dir}; run `shelfgraph eval extraction ...` first")
    typer.echo(str(write_report(selected, out)))


def register(app: typer.Typer) -> None:
    """Commands attach to `eval_app`, which `_eval_app.register` adds to the main app."""
