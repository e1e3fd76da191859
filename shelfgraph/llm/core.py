"""`LLM`: the one object agents talk to. Verbs return typed results; every call is logged
to `<home>/logs.db` and an identical call is answered from that log unless the cache is off.

* `structured(prompt, Model)`: instructor with a pydantic response model; re-asks on
  validation failure up to `config.max_retries`; transport errors retried inside.
* `choose(prompt, options)`: a decision, confidence from token log-probabilities.
* `extract_spans(prompt, text, attributes)`: values that are spans of `text`, or None.

How the model is asked is the `Backend`'s business (backend.py: in-process or a server); the
`LLM` does what all share: the log, the cache, and failures. Failures raise `LLMError` naming
the model, the prompt, the cause, the attempts, the last raw output and the tokens used;
nothing is cached from a failed call.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from pydantic import BaseModel

from ..context import LLMConfig, shelfgraph_home
from ..errors import ModelError
from ..prompting import RenderedPrompt
from .backend import DEFAULT_MAX_TOKENS, Backend
from .calllog import CallLog, cache_key
from .types import CallInfo, Choice, LLMError, Result, Span, Usage

M = TypeVar("M", bound=BaseModel)


class LLM:
    """The verbs over one backend; thread-safe when the backend is."""

    def __init__(self, config: LLMConfig, home: Path, backend: Backend):
        self.config = config
        self.backend = backend
        self.log = CallLog(home / "logs.db")
        self._usage = Usage()
        self._stats_lock = threading.Lock()
        self._calls = 0
        self._hits = 0

    @property
    def model_name(self) -> str:
        return self.backend.name

    def stats(self) -> dict[str, int]:
        return {"calls": self._calls, "cache_hits": self._hits}

    # -- verbs ----------------------------------------------------------------------------
    def structured(
        self, prompt: RenderedPrompt | str, response_model: type[M], max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> Result[M]:
        params = {"schema": response_model.model_json_schema(), "max_tokens": max_tokens}
        return self._call(
            "structured", prompt, params,
            lambda: self._structured(prompt, response_model, max_tokens).model_dump(mode="json", by_alias=True),
            response_model.model_validate,
        )

    def choose(
        self, prompt: RenderedPrompt | str, options: Sequence[str], prefix: str = " ", end: str = "\n"
    ) -> Choice:
        """Pick one of `options` as the continuation `prefix + option + end` of the prompt.

        Confidence from the backend's option log-probabilities (locally every option's full
        log-probability; servers with log-probabilities, one token's top ones). A backend that
        cannot tell gets a structured call and confidence None: never a made-up score.
        """
        options = list(dict.fromkeys(options))
        if len(options) < 2:
            raise ValueError(f"choose() needs at least two distinct options, got {options!r}")
        continuations = [f"{prefix}{o}{end}" for o in options]

        def run() -> dict[str, Any]:
            logprobs = self.backend.option_logprobs(str(prompt), continuations, self._usage)
            if logprobs is None:
                from typing import Literal

                from pydantic import create_model

                answer = create_model("Answer", answer=(Literal[tuple(options)], ...))  # type: ignore[valid-type]
                picked = self._structured(prompt, answer, max_tokens=64).answer
                return {"option": picked, "logprobs": None}
            return {"option": options[max(range(len(options)), key=logprobs.__getitem__)],
                    "logprobs": dict(zip(options, logprobs))}

        result = self._call("choose", prompt, {"continuations": continuations}, run, lambda v: v)
        logprobs = result.value["logprobs"]
        confidence = None
        if logprobs:
            top = max(logprobs.values())
            total = sum(math.exp(v - top) for v in logprobs.values())
            confidence = math.exp(logprobs[result.value["option"]] - top) / total
        return Choice(result.value["option"], confidence, logprobs, result.call)

    def extract_spans(
        self,
        prompt: RenderedPrompt | str,
        text: str,
        attributes: Sequence[str],
        line: str = "{attribute}:",
        max_span_tokens: int = 6,
    ) -> Result[dict[str, Span | None]]:
        """Each attribute's value as a span of `text` of at most `max_span_tokens` words, or
        None ("n/a"). Locally the prompt is continued like a form, one `line` per attribute;
        servers get one structured call whose schema only admits spans of `text`."""
        params = {"text": text, "attributes": list(attributes), "line": line, "max_span_tokens": max_span_tokens}

        def run() -> dict[str, Any]:
            spans = self.backend.extract_spans(str(prompt), text, attributes, line, max_span_tokens,
                                               self.config.temperature, self.config.max_retries, self._usage)
            return {a: None if s is None else s.__dict__ for a, s in spans.items()}

        return self._call("extract_spans", prompt, params, run,
                          lambda v: {a: None if s is None else Span(**s) for a, s in v.items()})

    def _structured(self, prompt: RenderedPrompt | str, response_model: type[M], max_tokens: int) -> M:
        return self.backend.structured(str(prompt), response_model, max_tokens, self.config.temperature,
                                       self.config.max_retries, self._usage)

    # -- plumbing -------------------------------------------------------------------------
    def _error(self, prompt: RenderedPrompt | str, cause: BaseException) -> LLMError:
        usage = self._usage
        return LLMError(self.model_name, _ref(prompt), self.backend.explain(cause), max(usage.attempts, 1),
                        server=self.backend.server, last_output=usage.last_output,
                        tokens_in=usage.tokens_in or None, tokens_out=usage.tokens_out or None)

    def _call(self, verb: str, prompt: RenderedPrompt | str, params: dict[str, Any],
              run: Callable[[], Any], decode: Callable[[Any], Any]) -> Result[Any]:
        text = str(prompt)
        params = {**params, "temperature": self.config.temperature}
        key = cache_key(f"{self.backend.kind}:{self.model_name}", verb, text, params)
        row = {"model": self.model_name, "backend": self.backend.kind, "verb": verb,
               "prompt_ref": _ref(prompt), "input": {"prompt": text, **params}, "cache_key": key}
        with self._stats_lock:
            self._calls += 1
        started = time.perf_counter()
        cached = self.log.lookup(key) if self.config.use_cache else None
        if cached is not None:
            with self._stats_lock:
                self._hits += 1
            latency = (time.perf_counter() - started) * 1000
            self.log.record(**row, output=cached, latency_ms=latency, cached=1, attempts=0)
            info = CallInfo(self.model_name, _ref(prompt), latency, None, None, None, True, 0)
            return Result(decode(json.loads(cached)), info)
        self._usage.reset()
        try:
            output = run()
        except Exception as e:  # transport, HTTP 4xx/500, invalid or truncated output: all final here
            error = self._error(prompt, e)
            self.log.record(**row, error=str(error), latency_ms=(time.perf_counter() - started) * 1000,
                            attempts=error.attempts, tokens_in=error.tokens_in, tokens_out=error.tokens_out)
            raise error from e
        latency = (time.perf_counter() - started) * 1000
        usage = self._usage
        self.log.record(**row, output=output, latency_ms=latency, compute_ms=usage.compute_ms,
                        tokens_in=usage.tokens_in, tokens_out=usage.tokens_out, attempts=max(usage.attempts, 1),
                        cached=0)
        info = CallInfo(self.model_name, _ref(prompt), latency, usage.compute_ms, usage.tokens_in, usage.tokens_out,
                        False, max(usage.attempts, 1))
        return Result(decode(output), info)


def _ref(prompt: RenderedPrompt | str) -> str | None:
    return prompt.ref if isinstance(prompt, RenderedPrompt) else None


def get_llm(config: LLMConfig | None = None, home: Path | None = None, adapter: Path | None = None) -> LLM:
    """An `LLM` for `config`: "local" runs the packaged model in-process (loaded once per
    process), anything else is the URL of an OpenAI-compatible server.

    `adapter`: a folder written by `shelfgraph tune`. Locally its GGUF LoRA is applied (refused
    for a model other than its base); a server is asked for it by its served name. Either way
    the model's name carries the adapter's hash, so the call cache and provenance tell it apart."""
    config = config or LLMConfig()
    home = home or shelfgraph_home()
    tuned = None
    if adapter is not None:
        from ..tuning.manifest import open_adapter

        tuned = open_adapter(adapter)
    if config.backend == "local" or config.kind == "local":
        from ..tuning.manifest import model_sha256
        from .local import PACKAGED_MODEL, LocalModel, packaged_model_path

        if config.model and config.model.endswith(".gguf"):
            path = Path(config.model)
            name = path.stem
        else:
            path, name = packaged_model_path(home), PACKAGED_MODEL
        if tuned is None:
            return LLM(config, home, LocalModel(path, name))
        tuned.check_base(model_sha256(path), str(path))
        return LLM(config, home, LocalModel(path, tuned.model_name(name), lora_path=tuned.gguf))
    from .remote import RemoteModel
    from .servers import detect, resolve_api_key

    api_key = resolve_api_key(config.api_key.get_secret_value() if config.api_key else None)
    kind, model, reason = config.kind, config.model, "--llm-kind"
    if tuned is not None:
        model = tuned.manifest.served_name()
    if kind == "auto" or not model:
        found = detect(config.backend, api_key, timeout_s=min(config.timeout_s, 10.0))
        if kind == "auto":
            kind, reason = found.kind, found.reason
        model = model or found.model
    if not model:
        raise ModelError(f"{config.backend} names no model to use; pass --model NAME")
    return LLM(config, home, RemoteModel(config.backend, kind, model, config.timeout_s, api_key, reason))
