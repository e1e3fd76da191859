"""What every LLM verb returns: the value plus how the call went (tokens, time, cache)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..errors import ModelError

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


class Usage(threading.local):
    """What the call in flight has used so far, per thread: backends add each attempt, its
    tokens, model compute time and raw output; the `LLM` logs it, also when the call fails."""

    def __init__(self) -> None:  # runs once in each thread that uses it
        self.reset()

    def reset(self) -> None:
        self.attempts = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.compute_ms: float | None = None
        self.last_output: str | None = None

    def attempt(self) -> None:
        self.attempts += 1

    def add(self, tokens_in: int, tokens_out: int, compute_ms: float | None = None) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        if compute_ms is not None:
            self.compute_ms = (self.compute_ms or 0.0) + compute_ms


class LLMError(ModelError):
    """A call that failed for good: names the model and its server, the prompt, the cause, the
    attempts, and what to try when the server is down or too slow. Like instructor's
    `InstructorRetryException`, it keeps the last raw output and the tokens all attempts used."""

    def __init__(self, model: str, prompt_ref: str | None, cause: str, attempts: int, server: str | None = None,
                 last_output: str | None = None, tokens_in: int | None = None, tokens_out: int | None = None):
        self.model = model
        self.prompt_ref = prompt_ref
        self.cause = cause
        self.attempts = attempts
        self.server = server
        self.last_output = last_output
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        super().__init__(
            f"LLM call to {model}{f' at {server}' if server else ''} with prompt {prompt_ref or '(inline)'} "
            f"failed after {attempts} attempt(s): {cause}{_hint(cause, server)}"
        )


def _hint(cause: str, server: str | None) -> str:
    if server is None:
        return ""
    if "Timeout" in cause:
        return "; the server did not answer in time: check it, or allow more with --llm-timeout SECONDS"
    if "Connection" in cause:
        return "; is the server running? Start one with `shelfgraph serve-model`, or check --llm"
    return ""
