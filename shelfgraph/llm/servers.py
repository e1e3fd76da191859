"""Which OpenAI-compatible server is at a URL, how it takes structured output, and its key.

Each server kind maps to one instructor mode (like instructor's own `Mode`), the structured
output it supports best:

* `vllm`: `response_format` json_schema (guided decoding); top log-probabilities.
* `llama_cpp` (llama-cpp-python's `llama_cpp.server`): TOOLS, a forced tool call it constrains
  by grammar (it answers HTTP 500 to json_schema); top log-probabilities.
* `llama_server` (llama.cpp's own `llama-server`): `response_format` json_schema.
* `ollama`: `response_format` json_schema (its OpenAI endpoint, Ollama 0.5 or later).
* `openai`: `response_format` json_schema with `strict: true`; also any server no probe
  recognises.

`detect` decides the kind from what the server says about itself, in this order, and says
which answer decided it: the host api.openai.com; `owned_by` in GET /v1/models (`vllm`, `me`,
`llamacpp`, `library`); GET /props (llama-server's own endpoint); GET /api/version (Ollama's own
API).
`--llm-kind` overrides it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import ModelError

# Where the API key comes from when `--api-key` is not given, in this order.
API_KEY_ENV = ("SHELFGRAPH_LLM_API_KEY", "OPENAI_API_KEY")
OPENAI_HOST = "api.openai.com"


@dataclass(frozen=True)
class ServerKind:
    mode: str  # instructor mode: how the server takes a response schema
    logprobs: bool = False  # /v1/completions returns OpenAI's `top_logprobs` (decisions get a confidence)
    # Characters its JSON-schema-to-grammar converter cannot put in an enum value:
    # llama-cpp-python 0.3.36 escapes `"` but not the backslash before it; llama_cpp.server then
    # fails to parse the grammar and drops the connection (which would look like a network error).
    enum_unsafe_chars: str = ""
    strict: bool = False  # json_schema with `strict: true`: every object closed, every field required


KINDS: dict[str, ServerKind] = {
    "vllm": ServerKind("JSON_SCHEMA", logprobs=True),
    "llama_cpp": ServerKind("TOOLS", logprobs=True, enum_unsafe_chars='"\\'),
    "llama_server": ServerKind("JSON_SCHEMA"),
    "ollama": ServerKind("JSON_SCHEMA"),
    "openai": ServerKind("JSON_SCHEMA", strict=True),
}
# /v1/models `owned_by` -> kind; Ollama says "library" for its own models, a namespace for others
OWNERS = {"vllm": "vllm", "me": "llama_cpp", "llamacpp": "llama_server", "library": "ollama", "ollama": "ollama"}


@dataclass(frozen=True)
class Detection:
    kind: str
    model: str | None  # the first model the server lists; None when it is not asked
    reason: str  # which answer decided the kind


def api_base(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def resolve_api_key(explicit: str | None) -> str | None:
    """`--api-key`, else $SHELFGRAPH_LLM_API_KEY, else $OPENAI_API_KEY, else None."""
    if explicit:
        return explicit
    return next((os.environ[name] for name in API_KEY_ENV if os.environ.get(name)), None)


def key_refused(status: int, has_key: bool) -> str:
    """What to do when a server answers 401 or 403."""
    if has_key:
        return (f"the server refused the API key (HTTP {status}); pass the right one with --api-key or "
                f"${API_KEY_ENV[0]}")
    return f"the server needs an API key (HTTP {status}); pass it with --api-key or ${API_KEY_ENV[0]}"


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def detect(url: str, api_key: str | None = None, timeout_s: float = 10.0) -> Detection:
    """The kind of server at `url` and its first model, with the reason (see the module doc)."""
    base = api_base(url)
    if httpx.URL(base).host == OPENAI_HOST:
        return Detection("openai", None, f"the host is {OPENAI_HOST}")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{base}/models", headers=headers, timeout=timeout_s)
        if response.status_code in (401, 403):
            raise ModelError(f"{base}/models: {key_refused(response.status_code, api_key is not None)}")
        response.raise_for_status()
        models = response.json().get("data") or []
    except (httpx.HTTPError, ValueError, AttributeError) as e:
        raise ModelError(f"cannot list the models at {base}/models ({type(e).__name__}: {redact(str(e), api_key)}); "
                         f"is the server running? Start one with `shelfgraph serve-model`, or check --llm") from e
    first: dict[str, Any] = models[0] if models and isinstance(models[0], dict) else {}
    owner, model = str(first.get("owned_by") or ""), first.get("id")
    if owner in OWNERS:
        return Detection(OWNERS[owner], model, f"GET /v1/models says owned_by {owner!r}")
    root = base.removesuffix("/v1")
    if _answers(f"{root}/props", "default_generation_settings", headers, timeout_s):
        return Detection("llama_server", model, "GET /props answers like llama.cpp's llama-server")
    if _answers(f"{root}/api/version", "version", headers, timeout_s):
        return Detection("ollama", model, "GET /api/version answers like Ollama")
    return Detection("openai", model, f"no probe matched (owned_by {owner!r}): a generic OpenAI-compatible server")


def _answers(url: str, field: str, headers: dict[str, str], timeout_s: float) -> bool:
    """Whether GET `url` answers a JSON object with `field`: a probe, so any failure is a no."""
    try:
        response = httpx.get(url, headers=headers, timeout=timeout_s)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(body, dict) and field in body
