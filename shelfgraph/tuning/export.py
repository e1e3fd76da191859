"""Writing a tuned adapter: a GGUF LoRA for llama.cpp, a PEFT folder for vLLM, the manifest.

The GGUF adapter is written with the `gguf` package directly, no llama.cpp checkout needed:
llama.cpp reads `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha` and, per
adapted weight, `<the weight's GGUF name>.lora_a` (rank x in) and `.lora_b` (out x rank), and
scales by alpha / rank as peft does. Both files hold float16 weights (half the size; the
adapter's effect is unchanged within float16's precision).

A shipped adapter (`bundled:STEP`) keeps only the GGUF in git; its PEFT folder is derived from
it on first use (`peft_folder`): the same float16 tensors under peft's names.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .manifest import GGUF_ADAPTER, MANIFEST, PEFT_FOLDER, Adapter, Manifest, Validation, file_sha256

# transformers' Gemma 3 module names -> llama.cpp's tensor names (blk.N.<name>.weight)
GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}
_PEFT_NAME = re.compile(r"layers\.(\d+)\.(.+)\.lora_([AB])(?:\.default)?\.weight$")
_GGUF_NAME = re.compile(r"^blk\.(\d+)\.(\w+)\.weight\.lora_([ab])$")
PEFT_MODULES = {gguf_name: module for module, gguf_name in GGUF_NAMES.items()}
PEFT_WEIGHTS = "adapter_model.safetensors"
GGUF_ARCH = "gemma3"


def gguf_tensor_name(peft_name: str) -> str:
    """`...layers.3.self_attn.q_proj.lora_A.default.weight` -> `blk.3.attn_q.weight.lora_a`."""
    match = _PEFT_NAME.search(peft_name)
    if not match or match.group(2) not in GGUF_NAMES:
        raise ValueError(f"no llama.cpp tensor for LoRA weight {peft_name!r}")
    layer, module, side = match.groups()
    return f"blk.{layer}.{GGUF_NAMES[module]}.weight.lora_{side.lower()}"


def peft_tensor_name(gguf_name: str) -> str:
    """`blk.3.attn_q.weight.lora_a` -> `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`,
    the name peft saves it under."""
    match = _GGUF_NAME.match(gguf_name)
    if not match or match.group(2) not in PEFT_MODULES:
        raise ValueError(f"no peft weight for GGUF LoRA tensor {gguf_name!r}")
    layer, module, side = match.groups()
    return f"base_model.model.model.layers.{layer}.{PEFT_MODULES[module]}.lora_{side.upper()}.weight"


def write_gguf_adapter(weights: dict[str, Any], alpha: float, path: Path) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), GGUF_ARCH)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name in sorted(weights, key=gguf_tensor_name):
        writer.add_tensor(gguf_tensor_name(name), weights[name].detach().to("cpu").half().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_adapter(trainer: Any, outcome: Any, out: Path, fields: dict[str, Any]) -> Manifest:
    """The best weights as `out/adapter.gguf` and `out/peft/`, then `out/manifest.json`;
    `fields` are the manifest's facts the trainer does not know (step, base, prompt, data)."""
    settings = trainer.settings
    weights = outcome.weights
    write_gguf_adapter(weights, settings.alpha, out / GGUF_ADAPTER)
    trainer.peft.save_pretrained(out / PEFT_FOLDER, state_dict={n: w.half() for n, w in weights.items()})
    peft_file = out / PEFT_FOLDER / PEFT_WEIGHTS
    validation = Validation(initial_loss=outcome.initial.loss, initial_accuracy=outcome.initial.accuracy,
                            history=outcome.history, best_epoch=outcome.best_epoch, best_loss=outcome.best.loss,
                            best_accuracy=outcome.best.accuracy)
    manifest = Manifest(
        **fields,
        lora={"rank": settings.rank, "alpha": settings.alpha, "targets": settings.targets,
              "layers": trainer.peft.peft_config["default"].layers_to_transform},
        training={**settings.model_dump(exclude={"rank", "alpha", "targets", "layers"}), "stopped": outcome.stopped,
                  "seconds": outcome.seconds, "examples_seen": outcome.examples_seen,
                  "s_per_example": round(outcome.seconds / outcome.examples_seen, 3) if outcome.examples_seen else None,
                  "peak_rss_mb": outcome.peak_rss_mb},
        validation=validation, gguf_sha256=file_sha256(out / GGUF_ADAPTER), peft_sha256=file_sha256(peft_file),
        size_bytes={GGUF_ADAPTER: (out / GGUF_ADAPTER).stat().st_size, PEFT_FOLDER: peft_file.stat().st_size},
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    (out / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return manifest


def write_peft_from_gguf(adapter: Adapter, out: Path) -> None:
    """The PEFT folder of `adapter` (vLLM `--lora-modules`), from its GGUF file and manifest."""
    import gguf
    import numpy
    import torch
    from peft import LoraConfig
    from safetensors.torch import save_file

    lora = adapter.manifest.lora
    tensors = {peft_tensor_name(t.name): torch.from_numpy(numpy.array(t.data))
               for t in gguf.GGUFReader(str(adapter.gguf)).tensors}
    out.mkdir(parents=True, exist_ok=True)
    LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], target_modules=lora["targets"], lora_dropout=0.0,
               bias="none", layers_to_transform=lora.get("layers")).save_pretrained(str(out))
    save_file(tensors, str(out / PEFT_WEIGHTS), metadata={"format": "pt"})


def peft_folder(adapter: Adapter, home: Path) -> Path:
    """The adapter's PEFT folder: its own, or one derived from its GGUF under `home` (a shipped
    adapter keeps only the GGUF)."""
    if (adapter.peft / PEFT_WEIGHTS).is_file():
        return adapter.peft
    derived = home / "adapters" / adapter.manifest.served_name() / PEFT_FOLDER
    if not (derived / PEFT_WEIGHTS).is_file():
        partial = derived.with_name(f"{PEFT_FOLDER}.{os.getpid()}.partial")  # a reader never sees half a folder
        write_peft_from_gguf(adapter, partial)
        try:
            partial.replace(derived)
        except OSError:  # another process derived it first: the same tensors, keep theirs
            if not (derived / PEFT_WEIGHTS).is_file():
                raise
            shutil.rmtree(partial)
    return derived
