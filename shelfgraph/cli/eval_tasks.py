"""`shelfgraph eval type|hypernym|applicability|cleaning|synonyms|build-pairs`.

Thin wrappers over `eval.tasks`: parse options, build the step context, run the task, save
the run (with a PR-curve plot for the scored tasks), print the metrics as JSON on the last line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Optional

import typer

from ..errors import InputError
from ._eval_app import eval_app
from .options import (LLM_TIMEOUT_S, METHOD_METAVAR, ApiKeyOpt, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt, NoCacheOpt,
                      StepSetOpt, llm_config, method_name, step_settings)

RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Where eval runs are saved (one folder per run).")]
MethodOpt = Annotated[str, typer.Option("--method", parser=method_name, metavar=METHOD_METAVAR, help="Step method.")]
SampleOpt = Annotated[int, typer.Option("--sample", min=1, help="How many taxonomy nodes to hide.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed of the sample or the corruption.")]
ThresholdOpt = Annotated[float, typer.Option("--threshold", help="Decision threshold for P/R/F1.")]
PlotOpt = Annotated[Optional[Path], typer.Option("--plot", help="PR-curve PNG (default: pr_curve.png in the run folder).")]
TrainFile = Annotated[Path, typer.Option("--train", exists=True, dir_okay=False, help="Training JSONL (OA-Mine or WDC-PAVE).")]
TestFile = Annotated[Path, typer.Option("--test", exists=True, dir_okay=False, help="Test JSONL (same formats).")]
PromptOpt = Annotated[Optional[str], typer.Option("--prompt", help="Prompt NAME@VERSION for LLM methods.")]
TaxonomyPath = Annotated[Path, typer.Option("--taxonomy", exists=True, help="Shopify folder, Google "
                                            "taxonomy-with-ids file or CSV id,name,parent_id.")]


def _run(task: str, kind: str, method: str, config: dict, evaluate: Callable[..., tuple[dict, list[dict]]],
         runs_dir: Path, llm: str, model: str | None, llm_kind: str, no_cache: bool,
         plot: Path | None = None, prompt: str | None = None, step_set: list[str] | None = None,
         llm_timeout: float = LLM_TIMEOUT_S, api_key: str | None = None, **kwargs: Any) -> None:
    """Evaluate, save the run, plot where the rows carry scores, print the metrics last.
    `kind` is the step kind `task` evaluates; `prompt` and `--set` items are the step's config
    (a method rejects settings it lacks)."""
    from shelfgraph.eval.metrics import plot_pr_curves
    from shelfgraph.eval.runs import save_run
    from shelfgraph.context import StepContext
    from shelfgraph.prompting import PromptNotFoundError
    from shelfgraph.registry import UnknownStepError, create

    llm_settings = llm_config(llm, model, llm_kind, no_cache, llm_timeout, api_key)
    context = StepContext(llm=llm_settings)
    step_config = step_settings(step_set, prompt)
    try:
        if step_config:  # a bad --prompt or --set fails here, before the step trains
            try:
                create(kind, method, context=context, **step_config)
            except TypeError as error:
                raise typer.BadParameter(f"{task}/{method} does not take {', '.join(sorted(step_config))} ({error})",
                                         param_hint="--prompt/--set") from None
        metrics, rows = evaluate(method=method, context=context, step_config=step_config, **kwargs)
    except UnknownStepError as error:
        raise typer.BadParameter(str(error), param_hint="--method") from None
    except PromptNotFoundError as error:
        raise typer.BadParameter(str(error), param_hint="--prompt") from None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    config = {"method": method, **config, **({"prompt": prompt} if prompt else {}),
              **({"step_config": step_config} if step_config else {}),
              **({"llm": llm_settings.model_dump()} if method != "baseline" else {})}
    run_path = save_run(runs_dir, task, config, metrics, rows)
    if plot is not None or task in ("cleaning", "synonyms"):
        curve = ([row["gold"] for row in rows], [row["pred"] for row in rows])
        plot_path = plot_pr_curves({f"{task} {method}": curve}, plot or run_path / "pr_curve.png")
        typer.echo(f"PR curve: {plot_path}", err=True)
    typer.echo(f"run saved to {run_path}", err=True)
    typer.echo(json.dumps({**metrics, "run": run_path.name}))


def _records(path: Path, limit: int | None = None) -> list:
    from shelfgraph.eval.datasets import load_records

    try:
        records = load_records(path)
    except ValueError as error:
        raise InputError(str(error)) from None
    return records[:limit] if limit else records


def _taxonomy(path: Path) -> list:
    from shelfgraph.ingest import taxonomy_nodes

    try:
        return taxonomy_nodes(path)
    except ValueError as error:
        raise InputError(str(error)) from None


@eval_app.command("type")
def type_task(
    train: TrainFile, test: TestFile, method: MethodOpt = "baseline",
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N test records.")] = None,
    prompt: PromptOpt = None, step_set: StepSetOpt = None, runs_dir: RunsDir = Path("runs"), llm: LLMOpt = "local",
    model: ModelOpt = None, llm_kind: LLMKindOpt = "auto", no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Product type phrase from the title. WDC-PAVE: extraction score of "Product Type";
    OA-Mine: accuracy of the category the phrase maps to."""
    from shelfgraph.eval.tasks import evaluate_type

    _run("type", "type", method, {"train": str(train), "test": str(test), "limit": limit}, evaluate_type, runs_dir,
         llm, model, llm_kind, no_cache, prompt=prompt, step_set=step_set, llm_timeout=llm_timeout, api_key=api_key,
         train=_records(train), test=_records(test, limit))


@eval_app.command("hypernym")
def hypernym(
    taxonomy: TaxonomyPath, sample: SampleOpt = 200, seed: SeedOpt = 0,
    k: Annotated[int, typer.Option("--k", min=1, help="Report top-1 and top-k accuracy.")] = 5,
    method: MethodOpt = "baseline", prompt: PromptOpt = None, step_set: StepSetOpt = None,
    runs_dir: RunsDir = Path("runs"), llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto",
    no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Hide sampled leaves of a taxonomy and predict each one's parent from its name."""
    from shelfgraph.eval.tasks import evaluate_hypernym

    _run("hypernym", "hypernym", method, {"taxonomy": str(taxonomy), "sample": sample, "seed": seed, "k": k},
         evaluate_hypernym, runs_dir, llm, model, llm_kind, no_cache, prompt=prompt, step_set=step_set,
         llm_timeout=llm_timeout, api_key=api_key, nodes=_taxonomy(taxonomy), sample=sample, seed=seed, k=k)


@eval_app.command("applicability")
def applicability(
    taxonomy: TaxonomyPath, sample: SampleOpt = 200, seed: SeedOpt = 0, threshold: ThresholdOpt = 0.5,
    method: MethodOpt = "baseline", prompt: PromptOpt = None, step_set: StepSetOpt = None,
    runs_dir: RunsDir = Path("runs"), llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto",
    no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Hide the attribute lists of sampled Shopify categories and predict them from the
    category's name and path: P/R/F1 over (category, attribute) pairs, and AUPR."""
    from shelfgraph.eval.tasks import evaluate_applicability

    _run("applicability", "relations", method, {"taxonomy": str(taxonomy), "sample": sample, "seed": seed,
                                   "threshold": threshold},
         evaluate_applicability, runs_dir, llm, model, llm_kind, no_cache, prompt=prompt, step_set=step_set,
         llm_timeout=llm_timeout, api_key=api_key, nodes=_taxonomy(taxonomy), sample=sample, seed=seed,
         threshold=threshold)


@eval_app.command("cleaning")
def cleaning(
    train: TrainFile, test: TestFile,
    corrupt_rate: Annotated[float, typer.Option("--corrupt-rate", min=0.0, max=1.0,
                                                help="Share of test triples to corrupt.")] = 0.3,
    seed: SeedOpt = 0, threshold: ThresholdOpt = 0.5, method: MethodOpt = "baseline",
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N test records.")] = None,
    plot: PlotOpt = None, prompt: PromptOpt = None, step_set: StepSetOpt = None, runs_dir: RunsDir = Path("runs"),
    llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto", no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Corrupt a share of the test (product, attribute, value) triples and score how well
    each is flagged: AUPR with a PR-curve plot, and F1 at the threshold."""
    from shelfgraph.eval.tasks import evaluate_cleaning

    _run("cleaning", "cleaning", method, {"train": str(train), "test": str(test), "corrupt_rate": corrupt_rate,
                              "seed": seed, "threshold": threshold, "limit": limit},
         evaluate_cleaning, runs_dir, llm, model, llm_kind, no_cache, plot, prompt=prompt, step_set=step_set,
         llm_timeout=llm_timeout, api_key=api_key, train=_records(train), test=_records(test, limit),
         corrupt_rate=corrupt_rate, seed=seed, threshold=threshold)


@eval_app.command("synonyms")
def synonyms(
    pairs: Annotated[Path, typer.Option("--pairs", exists=True, dir_okay=False, help="Test pairs CSV a,b,label.")],
    train: Annotated[Optional[Path], typer.Option("--train", exists=True, dir_okay=False,
                                                  help="Training pairs CSV a,b,label.")] = None,
    threshold: ThresholdOpt = 0.5, method: MethodOpt = "baseline", plot: PlotOpt = None,
    prompt: PromptOpt = None, step_set: StepSetOpt = None, runs_dir: RunsDir = Path("runs"), llm: LLMOpt = "local",
    model: ModelOpt = None, llm_kind: LLMKindOpt = "auto", no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Score labelled pairs (1 = same meaning): AUPR with a PR-curve plot, F1 at the threshold."""
    from shelfgraph.eval.pairs import read_pairs
    from shelfgraph.eval.tasks import evaluate_synonyms

    try:
        test_pairs, train_pairs = read_pairs(pairs), read_pairs(train) if train else []
    except ValueError as error:
        raise InputError(str(error)) from None
    _run("synonyms", "synonyms", method,
         {"pairs": str(pairs), "train": str(train) if train else None, "threshold": threshold},
         evaluate_synonyms, runs_dir, llm, model, llm_kind, no_cache, plot, prompt=prompt, step_set=step_set,
         llm_timeout=llm_timeout, api_key=api_key, test=test_pairs, train=train_pairs, threshold=threshold)


@eval_app.command("build-pairs")
def build_pairs(
    wdc: Annotated[Path, typer.Option("--wdc", exists=True, file_okay=False,
                                      help="The WDC-PAVE folder (raw and normalised splits, attribute_descriptions.csv).")],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where train.csv and test.csv go.")],
    negatives_per_positive: Annotated[int, typer.Option(min=0, help="Sampled negatives per positive pair.")] = 3,
    seed: SeedOpt = 0,
    train_split: Annotated[Literal["train", "train_large"], typer.Option(help="WDC-PAVE split for train.csv.")] = "train_large",
) -> None:
    """Synonym pairs from WDC-PAVE: raw values sharing a normalised value are synonyms."""
    from shelfgraph.eval.pairs import build_wdc_pair_files

    try:
        summary = build_wdc_pair_files(wdc, out_dir, negatives_per_positive, seed, train_split)
    except (OSError, ValueError, KeyError) as error:
        raise typer.BadParameter(f"{wdc}: {error}", param_hint="--wdc") from None
    typer.echo(json.dumps(summary))


def register(app: typer.Typer) -> None:
    """Commands attach to `eval_app`, which `_eval_app.register` adds to the main app."""
