"""The base model for tuning: the packaged GGUF, de-quantised by transformers to a
`Gemma3ForCausalLM` (the exact weights llama.cpp runs, as float32), never from a model hub.

Reading the GGUF takes minutes, so the result is saved once as a transformers folder beside
the GGUF (with the tokenizer): later tunes load it in seconds, and vLLM can serve it as
the base of a PEFT adapter. transformers refuses to `save_pretrained` a GGUF-loaded model, so
a fresh model is built from its config and given its weights.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .manifest import model_sha256


def hf_folder(gguf: Path) -> Path:
    """Where the de-quantised copy of `gguf` lives: beside it, named by its hash."""
    return gguf.with_name(f"{gguf.stem}-{model_sha256(gguf)[:12]}-hf")


def load_base(gguf: Path, folder: Path | None = None) -> Any:
    """The base model, float32 on the CPU, in evaluation mode (no dropout); its de-quantised
    copy is kept in `folder` (default: beside the GGUF)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM

    folder = folder or hf_folder(gguf)
    if not (folder / "config.json").is_file():
        _convert(gguf, folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa")
    model.eval()
    return model


def _convert(gguf: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights are plain float32 now, not GGUF blocks
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    fresh.save_pretrained(partial)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(partial)
    partial.rename(folder)
