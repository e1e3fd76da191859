"""The command line that serves the packaged model with llama.cpp's OpenAI-compatible server."""

from __future__ import annotations

import sys
from pathlib import Path

from .local import N_THREADS


def server_command(model_path: Path, host: str = "127.0.0.1", port: int = 8000, n_ctx: int = 2048,
                   n_threads: int = N_THREADS, alias: str | None = None, lora_path: Path | None = None,
                   api_key: str | None = None) -> list[str]:
    """`python -m llama_cpp.server ...` for `model_path`; `alias` is the model name it serves;
    `lora_path` a GGUF LoRA adapter applied on top; `api_key` the key clients must send."""
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", host,
        "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
        "--model_alias", alias or model_path.stem, *(["--lora_path", str(lora_path)] if lora_path else []),
        *(["--api_key", api_key] if api_key else []),
    ]
