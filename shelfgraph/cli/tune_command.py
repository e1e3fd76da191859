"""`shelfgraph tune STEP`: fit a LoRA adapter for a step's agent on labelled data.

The training file is read the way the step's eval task reads it (records for imputation, type
and cleaning; labelled pairs for synonyms; a taxonomy for relations and hypernym, without the
categories `eval applicability` or the leaves `eval hypernym` hides); the agent itself turns
each item into the prompt it would send and the gold answer (`Step.tuning_examples`), so the
adapter learns the prompt it will be asked with. Use it with `--set adapter=OUT` (eval) or
`adapter = "OUT"` in a step's config (build).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .options import StepSetOpt, step_settings

# step kind -> how its training file is read (the eval task's reader)
READERS = {"imputation": "records", "type": "records", "cleaning": "records", "synonyms": "pairs",
           "relations": "taxonomy", "hypernym": "leaves"}


def _read(kind: str, path: Path, agent: Any, hidden: tuple[int, int]) -> list[Any]:
    """The items to tune on. A taxonomy (relations, hypernym) is the agent's knowledge as `eval
    applicability` / `eval hypernym` gives it, what that task hides (`hidden`: its sample and
    seed) left out; the items are the known categories' keys, or the remaining leaves' ids."""
    if kind not in READERS:
        raise typer.BadParameter(f"step {kind!r} cannot be tuned yet; tunable: {', '.join(READERS)}",
                                 param_hint="STEP")
    try:
        if READERS[kind] == "pairs":
            from shelfgraph.eval.pairs import read_pairs

            return read_pairs(path)
        if READERS[kind] == "taxonomy":
            return known_category_keys(agent, path, *hidden)
        if READERS[kind] == "leaves":
            return known_leaves(agent, path, *hidden)
        from shelfgraph.eval.datasets import load_records, record_to_product

        return [record_to_product(r) for r in load_records(path)]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def known_category_keys(agent: Any, path: Path, sample: int, seed: int) -> list[str]:
    """Initialise the relations `agent` on the taxonomy at `path` as `eval applicability
    --sample SAMPLE --seed SEED` does (its hidden categories unknown and out of the taxonomy);
    the keys of the known categories in a seeded order, the items to tune on."""
    from shelfgraph.eval.tasks import hidden_categories, known_categories
    from shelfgraph.ingest import taxonomy_nodes

    nodes = taxonomy_nodes(path)
    hidden = {n.id for n in hidden_categories(nodes, sample, seed)}
    known = known_categories(nodes, hidden)
    agent.initialize(known, [n for n in nodes if n.id not in hidden])
    return _seeded_order(known, seed)


def known_leaves(agent: Any, path: Path, sample: int, seed: int) -> list[str]:
    """Initialise the hypernym `agent` on the taxonomy at `path` as `eval hypernym --sample
    SAMPLE --seed SEED` does (its hidden leaves out of the taxonomy); the remaining leaves
    with a parent, in a seeded order, the items to tune on."""
    from shelfgraph.eval.tasks import leaves, sample_leaves
    from shelfgraph.ingest import taxonomy_nodes

    nodes = taxonomy_nodes(path)
    hidden = {n.id for n in sample_leaves(nodes, sample, seed)}
    known = [n for n in nodes if n.id not in hidden]
    agent.initialize(known)
    return _seeded_order([n.id for n in leaves(known)], seed)


def _seeded_order(ids: Iterable[str], seed: int) -> list[str]:
    """`ids` sorted, then shuffled by `seed`: ids and keys group a taxonomy's branches, so
    `--limit` takes items from all over it (and one seed gives one order)."""
    ordered = sorted(ids)
    random.Random(seed).shuffle(ordered)
    return ordered


def _sha256(path: Path) -> str | None:
    """A file's sha256; None for a folder (a Shopify taxonomy)."""
    from shelfgraph.tuning.manifest import file_sha256

    return file_sha256(path) if path.is_file() else None


def tune_command(
    step: Annotated[str, typer.Argument(help="Step kind: imputation, type, cleaning, synonyms, "
                                                 "relations or hypernym.")],
    train: Annotated[Path, typer.Option("--train", exists=True, help="Labelled training data, as the step's "
                                        "eval task reads it (relations, hypernym: a taxonomy folder or file).")],
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Adapter folder to write (a checkpoint "
                                      "in it lets a killed tune resume).")],
    valid: Annotated[Optional[Path], typer.Option("--valid", exists=True, dir_okay=False,
                                                  help="Validation data (default: a share of --train).")] = None,
    valid_share: Annotated[float, typer.Option("--valid-share", min=0.01, max=0.9,
                                               help="Share of --train held out when --valid is not given.")] = 0.2,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training examples.")] = 3,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", min=0.0, help="Stop training after this "
                                                         "long (validation runs come on top), keeping the best adapter so far.")] = None,
    seed: Annotated[int, typer.Option(help="Seeds the split, the LoRA initialisation and the batch order.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank.")] = 16,
    layers: Annotated[Optional[int], typer.Option(min=1, help="Adapt only the top N decoder layers (default: "
                                                  "all); training skips the backward pass below them.")] = None,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=0.0)] = 2e-4,
    limit: Annotated[Optional[int], typer.Option(min=2, help="Only the first N training items.")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="torch CPU threads.")] = None,
    device: Annotated[str, typer.Option(help="torch device: auto (a CUDA GPU where torch sees one, else the "
                                        "CPU), cpu, cuda or cuda:N.")] = "auto",
    model: Annotated[Optional[str], typer.Option("--model", help="Base model .gguf (default: the packaged "
                                                 "Gemma 3 270M).")] = None,
    hide_sample: Annotated[int, typer.Option("--hide-sample", min=1, help="relations, hypernym: the categories "
                                             "`eval applicability --sample N` (the leaves `eval hypernym "
                                             "--sample N`) hides are left out.")] = 200,
    hide_seed: Annotated[int, typer.Option("--hide-seed", help="relations, hypernym: ... and its --seed.")] = 0,
    step_set: StepSetOpt = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Tune a LoRA adapter for STEP's agent: writes OUT/adapter.gguf (llama.cpp), OUT/peft
    (vLLM) and OUT/manifest.json; prints the manifest's scores as JSON on the last line."""
    from shelfgraph.context import StepContext, shelfgraph_home
    from shelfgraph.llm.local import PACKAGED_MODEL, packaged_model_path
    from shelfgraph.registry import create
    from shelfgraph.tuning.manifest import DataRef
    from shelfgraph.tuning.run import tune_step
    from shelfgraph.tuning.split import valid_split
    from shelfgraph.tuning.train import TuneSettings, torch_device

    try:
        device = torch_device(device)  # before minutes of reading data and loading the base model
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--device") from None
    config = step_settings(step_set)
    agent = create(step, "agent", context=StepContext(), **config) if step in READERS else None
    items = _read(step, train, agent, (hide_sample, hide_seed))[:limit]
    if valid is not None:
        train_items, valid_items = items, _read(step, valid, agent, (hide_sample, hide_seed))
        valid_ref = DataRef(path=str(valid), sha256=_sha256(valid))
    else:
        train_items, valid_items = valid_split(items, valid_share, seed)
        valid_ref = DataRef(path=f"{train} (share {valid_share}, seed {seed})")
    examples, held_out = agent.tuning_examples(train_items), agent.tuning_examples(valid_items)
    typer.echo(f"{len(examples)} training and {len(held_out)} validation examples", err=True)
    gguf = Path(model) if model else packaged_model_path(shelfgraph_home())
    settings = TuneSettings(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, rank=rank,
                            alpha=2 * rank, layers=layers, seed=seed, max_minutes=max_minutes, threads=threads,
                            device=device)
    try:
        manifest = tune_step(step, agent.prompt.ref, examples, held_out, settings, out, gguf,
                             gguf.stem if model else PACKAGED_MODEL,
                             DataRef(path=f"{train}" + (f" (first {limit})" if limit else ""),
                                     sha256=_sha256(train)), valid_ref, config,
                             show_progress=progress)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(f"adapter written to {out} ({manifest.adapter_id})", err=True)
    typer.echo(json.dumps({"adapter": manifest.adapter_id, "step": step, **manifest.validation.model_dump(
        exclude={"history"}), "stopped": manifest.training["stopped"], "seconds": manifest.training["seconds"],
        "s_per_example": manifest.training["s_per_example"], "peak_rss_mb": manifest.training["peak_rss_mb"],
        "size_bytes": manifest.size_bytes}))


def adapters_command(
    peft: Annotated[Optional[str], typer.Option(
        "--peft", metavar="ADAPTER", help="Print the PEFT folder of ADAPTER (a folder or bundled:STEP), deriving "
                                          "it from the GGUF when it ships without one: for vLLM `--lora-modules`.")] = None,
) -> None:
    """The adapters that ship with shelfgraph (use one with `--set adapter=bundled:STEP`): step, id,
    prompt, training data and validation scores."""
    from shelfgraph.context import shelfgraph_home
    from shelfgraph.tuning.export import peft_folder
    from shelfgraph.tuning.manifest import BUNDLED, GGUF_ADAPTER, bundled_steps, open_adapter

    if peft is not None:
        typer.echo(peft_folder(open_adapter(peft), shelfgraph_home()))
        return
    if not bundled_steps():
        typer.echo("no adapter ships yet (docs/tuning.md, Shipped adapters); make one with `shelfgraph tune`", err=True)
    for step in bundled_steps():
        manifest = open_adapter(BUNDLED + step).manifest
        typer.echo(json.dumps({"adapter": BUNDLED + step, "id": manifest.adapter_id, "prompt": manifest.prompt,
                               "train": manifest.train.model_dump(), "valid_loss": manifest.validation.best_loss,
                               "valid_accuracy": manifest.validation.best_accuracy,
                               "size_bytes": manifest.size_bytes.get(GGUF_ADAPTER)}))


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_command)
    app.command("adapters")(adapters_command)
