"""OpenAI-compatible servers: vLLM, llama.cpp's servers, Ollama, OpenAI itself.

Servers differ in how they take structured output, so each kind maps to one instructor mode
(like instructor's own `Mode`): vLLM takes `response_format` json_schema; llama_cpp.server
answers HTTP 500 to json_schema, so it gets TOOLS (a forced tool call, grammar-constrained
on its side). `detect_kind` asks the server when the kind is "auto".

Transport errors (connection refused, timeouts, 429, 502-504) are retried with tenacity
(exponential back-off, capped, bounded by the call timeout); anything else (4xx, HTTP 500)
can never succeed by repeating it and fails at once.
"""

from __future__ import annotations

from typing import Any, Callable

import httpx

from ..errors import ModelError

TRANSPORT_ATTEMPTS = 4
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 4.0
TOP_LOGPROBS = 20

# kind -> instructor mode name; kinds whose completions API returns log-probabilities.
MODES = {"vllm": "JSON_SCHEMA", "llama_cpp": "TOOLS", "ollama": "JSON", "openai": "TOOLS"}
LOGPROB_KINDS = {"vllm", "llama_cpp"}
# Characters a kind's JSON-schema-to-grammar converter cannot put in an enum value:
# llama-cpp-python 0.3.36 escapes `"` but not the backslash before it; llama_cpp.server then
# fails to parse the grammar and drops the connection (which would look like a network error).
ENUM_UNSAFE_CHARS = {"llama_cpp": '"\\'}


def api_base(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def detect_kind(url: str, timeout_s: float = 10.0) -> tuple[str, str | None]:
    """(kind, first served model id) from GET /v1/models: vLLM says `owned_by: vllm`,
    llama_cpp.server `me`, Ollama `library`/`ollama`."""
    try:
        response = httpx.get(f"{api_base(url)}/models", timeout=timeout_s)
        response.raise_for_status()
        models = response.json().get("data") or []
    except (httpx.HTTPError, ValueError) as e:
        raise ModelError(f"cannot list the models at {api_base(url)}/models ({type(e).__name__}: {e}); is the "
                         f"server running? Start one with `shelfgraph serve-model`, or check --llm") from e
    owner = (models[0].get("owned_by") or "") if models else ""
    model_id = models[0].get("id") if models else None
    kind = {"vllm": "vllm", "me": "llama_cpp", "library": "ollama", "ollama": "ollama"}.get(owner, "openai")
    return kind, model_id


def is_transient(error: BaseException) -> bool:
    import openai

    if isinstance(error, (openai.APIConnectionError, openai.APITimeoutError)):
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in (408, 429, 502, 503, 504)
    return False


class RemoteModel:
    def __init__(self, url: str, kind: str, model: str, timeout_s: float):
        import openai

        self.url = api_base(url)
        self.kind = kind
        self.name = model
        self.timeout_s = timeout_s
        self.enum_unsafe_chars = ENUM_UNSAFE_CHARS.get(kind, "")
        # openai's own retries are off: tenacity below decides what is worth repeating.
        self.client = openai.OpenAI(base_url=self.url, api_key="not-needed", max_retries=0, timeout=timeout_s)

    def retrying(self, fn: Callable[..., Any], on_attempt: Callable[[], None] | None = None) -> Callable[..., Any]:
        from tenacity import retry, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

        def attempt(*args: Any, **kwargs: Any) -> Any:
            if on_attempt is not None:
                on_attempt()
            return fn(*args, **kwargs)

        return retry(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(TRANSPORT_ATTEMPTS) | stop_after_delay(self.timeout_s),
            wait=wait_exponential(multiplier=BACKOFF_START_S, max=BACKOFF_MAX_S),
            reraise=True,
        )(attempt)

    def structured_create(self, on_attempt: Callable[[], None] | None = None) -> Callable[..., Any]:
        """instructor-patched chat create for this server's mode, transport retries inside."""
        import instructor

        mode = getattr(instructor.Mode, MODES[self.kind])
        return instructor.patch(create=self.retrying(self.client.chat.completions.create, on_attempt), mode=mode)

    def first_token_logprobs(
        self, prompt: str, continuations: list[str], on_attempt: Callable[[], None] | None = None
    ) -> tuple[list[float] | None, Any]:
        """Log-probability of each continuation's first token, from the top log-probabilities
        of one generated token; None (not a guess) when the server gives none, when an option's
        first token is not among the top ones, or when first tokens do not tell options apart."""
        if self.kind not in LOGPROB_KINDS:
            return None, None
        create = self.retrying(self.client.completions.create, on_attempt)
        response = create(model=self.name, prompt=prompt, max_tokens=1, temperature=0, logprobs=TOP_LOGPROBS)
        top = (response.choices[0].logprobs.top_logprobs or [None])[0] or {}
        keys = []
        for text in continuations:
            matching = [k for k in top if k.strip() and text.startswith(k)]
            keys.append(max(matching, key=len) if matching else None)
        if None in keys or len(set(keys)) < len(keys):
            return None, response
        return [top[k] for k in keys], response
