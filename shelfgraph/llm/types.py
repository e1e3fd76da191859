"""What every LLM verb returns: the value plus how the call went (tokens, time, cache)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class CallInfo:
    model: str
    prompt_ref: str | None
    latency_ms: float  # wall time of the whole call, retries included
    compute_ms: float | None  # the model's own decode time (llama.cpp timings); None when unknown
    tokens_in: int | None
    tokens_out: int | None
    cached: bool
    attempts: int = 1


@dataclass(frozen=True)
class Result(Generic[T]):
    value: T
    call: CallInfo


@dataclass(frozen=True)
class Choice:
    """A decision among options. `confidence` is the option's probability normalised over the
    options, from token log-probabilities; None when the backend gives none."""

    option: str
    confidence: float | None
    logprobs: dict[str, float] | None
    call: CallInfo


@dataclass(frozen=True)
class Span:
    """A value that is a verbatim span of the source text: `text[start:end] == value`."""

    value: str
    start: int
    end: int
    confidence: float | None = None


class LLMError(RuntimeError):
    """A call that failed for good: names the model, the prompt, the cause and the attempts."""

    def __init__(self, model: str, prompt_ref: str | None, cause: str, attempts: int):
        self.model = model
        self.prompt_ref = prompt_ref
        self.cause = cause
        self.attempts = attempts
        super().__init__(
            f"LLM call to {model} with prompt {prompt_ref or '(inline)'} failed after "
            f"{attempts} attempt(s): {cause}"
        )
