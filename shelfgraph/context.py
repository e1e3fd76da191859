"""What a step needs from its surroundings: where the model, caches and index live.

Steps receive a `StepContext` from whoever builds them (the pipeline, the eval harness, the
CLI) instead of reading globals, so one process can run several configurations side by side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

LLMKind = Literal["auto", "local", "vllm", "llama_cpp", "llama_server", "ollama", "openai"]


def shelfgraph_home() -> Path:
    """`$SHELFGRAPH_HOME`, else ~/.shelfgraph: model cache, call log, saved steps."""
    return Path(os.environ.get("SHELFGRAPH_HOME") or Path.home() / ".shelfgraph")


def index_beside(store: Path) -> Path:
    """Where a graph's Chroma folder lives by default: `graph.db` -> `graph.db.chroma/`."""
    return store.with_name(store.name + ".chroma")


class LLMConfig(BaseModel):
    """Which model to talk to. `backend` is "local" (in-process llama.cpp) or a server URL."""

    backend: str = "local"
    model: str | None = None  # served model name; the packaged Gemma 3 270M when local
    kind: LLMKind = "auto"  # wire format of the server; "auto" asks the server
    # The server's API key; None: $SHELFGRAPH_LLM_API_KEY, then $OPENAI_API_KEY. Secret, and left
    # out of `model_dump()`, so run records and config dumps never hold it.
    api_key: SecretStr | None = Field(default=None, exclude=True)
    use_cache: bool = True
    max_retries: int = 2  # re-asks after a validation failure
    timeout_s: float = 120.0
    temperature: float = 0.0


class StepContext(BaseModel):
    llm: LLMConfig = Field(default_factory=LLMConfig)
    home: Path = Field(default_factory=shelfgraph_home)
    index_dir: Path | None = None  # Chroma folder; None: steps that need it build one under home
    chroma_url: str | None = None
    run_id: str | None = None
