"""`Backend`: what the `LLM` verbs need from a model, whichever process runs it.

The `LLM` (core.py) owns what every backend shares: the call log and cache, the cache key,
turning failures into `LLMError`, and the structured fallback of `choose`. A backend owns how
its model is asked: the in-process llama.cpp model (local.py) and OpenAI-compatible servers
(remote.py) implement it; adding a backend is one class with these members (docs/architecture.md).
Each verb reports its attempts, tokens and raw output to the `Usage` it is given.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, TypeVar

from pydantic import BaseModel

from .types import Span, Usage

M = TypeVar("M", bound=BaseModel)
DEFAULT_MAX_TOKENS = 256


class Backend(Protocol):
    name: str  # the model's name in provenance, the call log and the cache key
    kind: str  # "local" or the server kind (servers.KINDS): part of the cache key
    server: str | None  # where it runs, for error messages; None in-process

    def structured(self, prompt: str, response_model: type[M], max_tokens: int, temperature: float,
                   max_retries: int, usage: Usage) -> M:
        """An instance of `response_model`, re-asked up to `max_retries` times when invalid."""
        ...

    def option_logprobs(self, prompt: str, continuations: Sequence[str], usage: Usage) -> list[float] | None:
        """Log-probability of each continuation after `prompt`, or None when the backend
        cannot tell (the `LLM` then asks a structured question and reports no confidence)."""
        ...

    def extract_spans(self, prompt: str, text: str, attributes: Sequence[str], line: str, max_span_tokens: int,
                      temperature: float, max_retries: int, usage: Usage) -> dict[str, Span | None]:
        """Each attribute's value as a span of `text` of at most `max_span_tokens` words, or None."""
        ...

    def explain(self, error: BaseException) -> str:
        """One line saying why a call failed (never containing a secret)."""
        ...


def instructor_structured(create: Callable[..., Any], mode: str, prompt: str, response_model: type[M], model: str,
                          max_tokens: int, temperature: float, max_retries: int) -> M:
    """`response_model` through instructor over an OpenAI-style chat `create`, the one re-ask
    loop both backends use. When attempts run out, the last cause is raised (a validation
    error, an HTTP error), not instructor's wrapper."""
    import instructor

    patched = instructor.patch(create=create, mode=getattr(instructor.Mode, mode))
    try:
        return patched(response_model=response_model, messages=[{"role": "user", "content": prompt}], model=model,
                       max_tokens=max_tokens, temperature=temperature, max_retries=max_retries)
    except instructor.core.InstructorRetryException as e:
        if e.__cause__ is None:
            raise
        raise e.__cause__ from e
