"""`tune_step`: examples in, adapter folder out. What the CLI and the tests call."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..llm.local import LocalModel
from ..extras import require
from .base import load_base
from .example import TuneExample
from .export import write_adapter
from .manifest import DataRef, Manifest, model_sha256
from .train import Trainer, TuneSettings, torch_device, tune


def tune_step(kind: str, prompt_ref: str, train: Sequence[TuneExample], valid: Sequence[TuneExample],
              settings: TuneSettings, out: Path, gguf: Path, base_name: str, train_ref: DataRef,
              valid_ref: DataRef, step_config: dict | None = None, show_progress: bool = True,
              base: Any = None) -> Manifest:
    """Tune an adapter for step `kind` on `train`, keep the epoch best on `valid`, write it to
    `out`. Tokens come from llama.cpp itself, so training sees the ids inference will see.
    `base`: the loaded base model, to reuse one across tunes (it is returned without LoRA)."""
    require("tune", "shelfgraph tune")
    settings = settings.model_copy(update={"device": torch_device(settings.device)})
    base = base if base is not None else load_base(gguf)
    trainer = Trainer(base, settings, train, valid, LocalModel(gguf, base_name).tokenize, out)
    try:
        outcome = tune(trainer, f"tune {kind}", show_progress)
        return write_adapter(trainer, outcome, out, {
            "step": kind, "base_model": base_name, "base_sha256": model_sha256(gguf), "prompt": prompt_ref,
            "step_config": step_config or {}, "train": train_ref.model_copy(update={"examples": len(train)}),
            "valid": valid_ref.model_copy(update={"examples": len(valid)})})
    finally:
        trainer.peft.unload()
