"""Per-step LoRA adapters for the local model (`shelfgraph tune`, docs/tuning.md).

`example` (what an agent's `tuning_examples` return) and `manifest` (opening and checking an
adapter folder) are light; `train`, `base`, `export` and `run` import torch, transformers,
peft and gguf (the `tune` extra) inside their functions.
"""
