"""Options shared by every command that talks to a model, defined once.

    from shelfgraph.cli.options import (LLM_TIMEOUT_S, ApiKeyOpt, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt,
                                        NoCacheOpt, llm_config)

    def build(llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto",
              no_cache: NoCacheOpt = False, llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None):
        config = llm_config(llm, model, llm_kind, no_cache, llm_timeout, api_key)
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from ..context import LLMConfig, LLMKind

LLMOpt = Annotated[str, typer.Option(
    "--llm", help="'local' (the packaged Gemma 3 270M, in-process) or the URL of an OpenAI-compatible "
                  "server (vLLM, llama.cpp, Ollama, OpenAI).")]
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", help="Served model name (default: the server's first model); locally a .gguf path.")]
LLMKindOpt = Annotated[LLMKind, typer.Option(
    "--llm-kind", help="Server kind, which decides the structured-output mode; 'auto' asks the server "
                       "(`shelfgraph check-llm` says what it detects and why).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Call the model even for a call already logged.")]
LLM_TIMEOUT_S = LLMConfig.model_fields["timeout_s"].default
LLMTimeoutOpt = Annotated[float, typer.Option(
    "--llm-timeout", min=0.1, envvar="SHELFGRAPH_LLM_TIMEOUT", metavar="SECONDS",
    help="How long to wait for a model server's answer, retries included, before giving up.")]
ApiKeyOpt = Annotated[Optional[str], typer.Option(
    "--api-key", metavar="KEY", show_default=False,
    help="The model server's API key (default: $SHELFGRAPH_LLM_API_KEY, then $OPENAI_API_KEY). Sent to the "
         "server only: never logged or stored.")]
StepSetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", help="Step config KEY=VALUE (VALUE read as JSON when it parses), e.g. --set c1=0.1 or "
                  "--set weight=0.3 for a hybrid.")]


def llm_config(llm: str = "local", model: str | None = None, llm_kind: LLMKind = "auto", no_cache: bool = False,
               timeout_s: float = LLM_TIMEOUT_S, api_key: str | None = None) -> LLMConfig:
    return LLMConfig(backend=llm, model=model, kind=llm_kind, use_cache=not no_cache, timeout_s=timeout_s,
                     api_key=api_key)


def step_settings(items: list[str] | None, prompt: str | None = None) -> dict[str, Any]:
    """`--set KEY=VALUE` items (and `--prompt`) as a step's configuration."""
    settings: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return {**settings, **({"prompt": prompt} if prompt else {})}


BUILTIN_METHODS = ("agent", "baseline", "hybrid")
METHOD_METAVAR = "<" + "|".join(BUILTIN_METHODS) + ">"


def method_name(value: str) -> str:
    """`--method`: the built-in methods, which `--help` lists, or one a plugin registers (the
    registry is loaded only to check such a name, so `--help` stays instant)."""
    if value in BUILTIN_METHODS:
        return value
    from ..registry import methods
    from ..stages import KINDS

    known = sorted({m for kind in KINDS for m in methods(kind)})
    if value not in known:
        raise typer.BadParameter(f"{value!r} is not a method; valid: {', '.join(known)}")
    return value


def register(app: typer.Typer) -> None:
    """Options only: this module adds no command."""
