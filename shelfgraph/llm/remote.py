"""The `Backend` for OpenAI-compatible servers: vLLM, llama.cpp's servers, Ollama, OpenAI.

How each kind takes structured output is in `servers.KINDS` (one instructor mode per kind).
Transport errors (connection refused, timeouts, 429, 502-504) are retried with tenacity
(exponential back-off, capped, bounded by the call timeout); anything else (4xx, HTTP 500)
can never succeed by repeating it and fails at once. The API key goes to the server and
nowhere else: not into the call log, error messages or `repr`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from pydantic import BaseModel

from .backend import DEFAULT_MAX_TOKENS, instructor_structured
from .grounding import grounded_model
from .servers import KINDS, api_base, key_refused, redact
from .types import Span, Usage

M = TypeVar("M", bound=BaseModel)
TRANSPORT_ATTEMPTS = 4
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 4.0
TOP_LOGPROBS = 20
NO_KEY = "not-needed"  # the openai client insists on a key; servers without one ignore it


def is_transient(error: BaseException) -> bool:
    import openai

    if isinstance(error, (openai.APIConnectionError, openai.APITimeoutError)):
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in (408, 429, 502, 503, 504)
    return False


class RemoteModel:
    """One served model. `detected_by` says why the kind is what it is (`servers.detect`)."""

    def __init__(self, url: str, kind: str, model: str, timeout_s: float, api_key: str | None = None,
                 detected_by: str = "--llm-kind"):
        import openai

        self.server = api_base(url)
        self.kind = kind
        self.spec = KINDS[kind]
        self.name = model
        self.timeout_s = timeout_s
        self.detected_by = detected_by
        self._api_key = api_key
        # openai's own retries are off: tenacity below decides what is worth repeating.
        self.client = openai.OpenAI(base_url=self.server, api_key=api_key or NO_KEY, max_retries=0, timeout=timeout_s)

    def __repr__(self) -> str:
        return f"RemoteModel({self.server!r}, kind={self.kind!r}, model={self.name!r})"

    # -- Backend ----------------------------------------------------------------------------
    def structured(self, prompt: str, response_model: type[M], max_tokens: int, temperature: float,
                   max_retries: int, usage: Usage) -> M:
        create = self._metered(self._retrying(self.client.chat.completions.create, usage), usage)
        if self.spec.strict:
            create = _strict(create)
        return instructor_structured(create, self.spec.mode, prompt, response_model, self.name, max_tokens,
                                     temperature, max_retries)

    def option_logprobs(self, prompt: str, continuations: Sequence[str], usage: Usage) -> list[float] | None:
        """Log-probability of each continuation's first token, from the top log-probabilities
        of one generated token; None (not a guess) when the server gives none, when an option's
        first token is not among the top ones, or when first tokens do not tell options apart."""
        if not self.spec.logprobs:
            return None
        create = self._retrying(self.client.completions.create, usage)
        response = create(model=self.name, prompt=prompt, max_tokens=1, temperature=0, logprobs=TOP_LOGPROBS)
        if response.usage is not None:
            usage.add(response.usage.prompt_tokens or 0, response.usage.completion_tokens or 0)
        usage.last_output = response.choices[0].text
        top = (response.choices[0].logprobs.top_logprobs or [None])[0] or {}
        keys = []
        for text in continuations:
            matching = [k for k in top if k.strip() and text.startswith(k)]
            keys.append(max(matching, key=len) if matching else None)
        if None in keys or len(set(keys)) < len(keys):
            return None
        return [top[k] for k in keys]

    def extract_spans(self, prompt: str, text: str, attributes: Sequence[str], line: str, max_span_tokens: int,
                      temperature: float, max_retries: int, usage: Usage) -> dict[str, Span | None]:
        """One structured call whose schema only admits spans of `text` (`grounded_model`)."""
        model = grounded_model(text, attributes, max_span_tokens, drop_chars=self.spec.enum_unsafe_chars)
        return self.structured(prompt, model, DEFAULT_MAX_TOKENS, temperature, max_retries, usage).spans()

    def explain(self, error: BaseException) -> str:
        import openai

        if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
            detail = f"{type(error).__name__}: {key_refused(error.status_code, self._api_key is not None)}"
        else:
            detail = f"{type(error).__name__}: {error}"
        return redact(detail, self._api_key)

    # -- plumbing ---------------------------------------------------------------------------
    def _retrying(self, fn: Callable[..., Any], usage: Usage) -> Callable[..., Any]:
        from tenacity import retry, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

        def attempt(*args: Any, **kwargs: Any) -> Any:
            usage.attempt()
            return fn(*args, **kwargs)

        return retry(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(TRANSPORT_ATTEMPTS) | stop_after_delay(self.timeout_s),
            wait=wait_exponential(multiplier=BACKOFF_START_S, max=BACKOFF_MAX_S),
            reraise=True,
        )(attempt)

    @staticmethod
    def _metered(create: Callable[..., Any], usage: Usage) -> Callable[..., Any]:
        """`create` that adds each completion's tokens and raw text to `usage` (read before
        instructor sums usage into the response)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            completion = create(*args, **kwargs)
            if completion.usage is not None:
                usage.add(completion.usage.prompt_tokens or 0, completion.usage.completion_tokens or 0)
            usage.last_output = _completion_text(completion)
            return completion

        return call


def _completion_text(completion: Any) -> str | None:
    """The raw text of a chat completion: its content, else its first tool call's arguments."""
    message = completion.choices[0].message if completion.choices else None
    if message is None:
        return None
    calls = message.tool_calls or []
    return message.content or (calls[0].function.arguments if calls else None)


def _strict(create: Callable[..., Any]) -> Callable[..., Any]:
    """`create` with the json_schema response format made strict (OpenAI's structured outputs)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        form = kwargs.get("response_format") or {}
        if form.get("type") == "json_schema":
            schema = form["json_schema"]
            kwargs = {**kwargs, "response_format": {**form, "json_schema": {
                **schema, "strict": True, "schema": strict_schema(schema["schema"])}}}
        return create(*args, **kwargs)

    return call


def strict_schema(schema: Any) -> Any:
    """A copy of a JSON schema as strict mode wants it: every object closed
    (`additionalProperties: false`) and all its properties required."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict_schema(v) for k, v in schema.items()}
    if out.get("type") == "object" and isinstance(out.get("properties"), dict):
        out["additionalProperties"] = False
        out["required"] = list(out["properties"])
    return out
