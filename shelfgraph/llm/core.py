"""`LLM`: the one object agents talk to. Verbs return typed results; every call is logged
to `<home>/logs.db` and an identical call is answered from that log unless the cache is off.

* `structured(prompt, Model)`: instructor with a pydantic response model; re-asks on
  validation failure up to `config.max_retries`; transport errors retried inside.
* `choose(prompt, options)`: a decision, confidence from token log-probabilities.
* `extract_spans(prompt, text, attributes)`: values that are spans of `text`, or None.

Failures raise `LLMError` naming the model, the prompt, the cause and the attempts; nothing
is cached from a failed call.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from pydantic import BaseModel

from ..context import LLMConfig, shelfgraph_home
from ..errors import ModelError
from ..prompting import RenderedPrompt
from .calllog import CallLog, cache_key
from .grounding import NA, grounded_model, span_candidates
from .types import CallInfo, Choice, LLMError, Result, Span

M = TypeVar("M", bound=BaseModel)
DEFAULT_MAX_TOKENS = 256


class _Tally(threading.local):
    """Per-thread counters of one call in flight: attempts, tokens, model compute time."""

    def reset(self) -> None:
        self.attempts = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.compute_ms: float | None = None

    def add(self, tokens_in: int, tokens_out: int, compute_ms: float | None = None) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        if compute_ms is not None:
            self.compute_ms = (self.compute_ms or 0.0) + compute_ms


class LLM:
    def __init__(self, config: LLMConfig, home: Path, backend: Any):
        self.config = config
        self.backend = backend
        self.log = CallLog(home / "logs.db")
        self._tally = _Tally()
        self._create: Callable[..., Any] | None = None
        self._stats_lock = threading.Lock()
        self._calls = 0
        self._hits = 0

    @property
    def model_name(self) -> str:
        return self.backend.name

    @property
    def is_local(self) -> bool:
        return self.backend.kind == "local"

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

        Local: every option's full log-probability (a token trie, shared prefixes once).
        Servers with log-probabilities: one generated token's top log-probabilities, when every
        option's first token is among them and tells it apart. Otherwise a structured call and
        confidence None: never a made-up score.
        """
        options = list(dict.fromkeys(options))
        if len(options) < 2:
            raise ValueError(f"choose() needs at least two distinct options, got {options!r}")
        text = str(prompt)
        continuations = [f"{prefix}{o}{end}" for o in options]

        def run() -> dict[str, Any]:
            logprobs = self._option_logprobs(prompt, text, continuations)
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
        None ("n/a").

        Local: the prompt is continued like a form, one `line` per attribute, each answer
        decoded greedily among the spans of `text` (a token trie, no grammar); the prompt is
        evaluated once and each answer extends the cached context. Servers: one structured
        call whose schema only admits spans of `text` (`grounded_model`).
        """
        params = {"text": text, "attributes": list(attributes), "line": line, "max_span_tokens": max_span_tokens}

        def run() -> dict[str, Any]:
            if self.is_local:
                spans = self._pick_spans(prompt, text, attributes, line, max_span_tokens)
            else:
                model = grounded_model(text, attributes, max_span_tokens, drop_chars=self.backend.enum_unsafe_chars)
                spans = self._structured(prompt, model, DEFAULT_MAX_TOKENS).spans()
            return {a: None if s is None else s.__dict__ for a, s in spans.items()}

        return self._call("extract_spans", prompt, params, run,
                          lambda v: {a: None if s is None else Span(**s) for a, s in v.items()})

    # -- backend specifics --------------------------------------------------------------------
    def _structured(self, prompt: RenderedPrompt | str, response_model: type[M], max_tokens: int) -> M:
        import instructor

        try:
            value = self._structured_create()(
                response_model=response_model,
                messages=[{"role": "user", "content": str(prompt)}],
                model=self.model_name,
                max_tokens=max_tokens,
                temperature=self.config.temperature,
                max_retries=self.config.max_retries,
            )
        except instructor.core.InstructorRetryException as e:
            raise self._error(prompt, e.__cause__ or e) from e
        except Exception as e:  # transport, HTTP 4xx/500, truncated output: all final here
            raise self._error(prompt, e) from e
        if not self.is_local:
            usage = getattr(getattr(value, "_raw_response", None), "usage", None)
            if usage is not None:
                self._tally.add(usage.prompt_tokens or 0, usage.completion_tokens or 0)
        return value

    def _pick_spans(self, prompt, text, attributes, line, max_words) -> dict[str, Span | None]:
        candidates = span_candidates(text, max_words)
        continuations = [f" {s.value}\n" for s in candidates] + [f" {NA}\n"]
        context = str(prompt)
        spans: dict[str, Span | None] = {}
        answered = tokens_in = 0  # answer tokens in the context are not input tokens
        for attribute in attributes:
            context += line.format(attribute=attribute)
            index, probability, decoded = self._local_op(prompt, lambda: self.backend.pick(context, continuations))
            context += continuations[index]
            spans[attribute] = (
                None if index == len(candidates)
                else Span(candidates[index].value, candidates[index].start, candidates[index].end, probability)
            )
            self._tally.add(0, decoded.tokens_out, decoded.compute_ms)
            tokens_in = decoded.tokens_in - answered  # the prompt and the attribute lines, once
            answered += decoded.tokens_out
        self._tally.add(tokens_in, 0)
        return spans

    def _option_logprobs(self, prompt, text: str, continuations: list[str]) -> list[float] | None:
        if self.is_local:
            scores, decoded = self._local_op(prompt, lambda: self.backend.score(text, continuations))
            self._tally.add(decoded.tokens_in, decoded.tokens_out, decoded.compute_ms)
            return scores
        try:
            logprobs, response = self.backend.first_token_logprobs(text, continuations, self._count_attempt)
        except Exception as e:
            raise self._error(prompt, e) from e
        if response is not None and response.usage is not None:
            self._tally.add(response.usage.prompt_tokens or 0, response.usage.completion_tokens or 0)
        return logprobs

    def _local_op(self, prompt: RenderedPrompt | str, op: Callable[[], Any]) -> Any:
        self._tally.attempts += 1
        try:
            return op()
        except Exception as e:  # e.g. a prompt longer than the context window
            raise self._error(prompt, e) from e

    def _structured_create(self) -> Callable[..., Any]:
        """instructor-patched create, built once: local runs through `_local_chat`."""
        if self._create is None:
            import instructor

            if self.is_local:
                self._create = instructor.patch(create=self._local_chat, mode=instructor.Mode.JSON_SCHEMA)
            else:
                self._create = self.backend.structured_create(on_attempt=self._count_attempt)
        return self._create

    def _count_attempt(self) -> None:
        self._tally.attempts += 1

    def _local_chat(self, messages: list[dict[str, Any]], response_format: dict[str, Any] | None = None,
                    max_tokens: int = DEFAULT_MAX_TOKENS, **_: Any) -> Any:
        """An OpenAI-style chat create over the in-process model, completion style: a base
        model continues the prompt text (re-ask messages are appended as plain text)."""
        from openai.types.chat import ChatCompletion

        from .grammar import schema_to_gbnf

        self._count_attempt()
        prompt = "\n".join(str(m.get("content") or "") for m in messages)
        grammar = None
        if response_format and response_format.get("type") == "json_schema":
            grammar = schema_to_gbnf(response_format["json_schema"]["schema"])
        decoded = self.backend.generate(prompt, grammar, max_tokens)
        self._tally.add(decoded.tokens_in, decoded.tokens_out, decoded.compute_ms)
        return ChatCompletion.model_validate({
            "id": f"local-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model_name,
            "choices": [{"index": 0, "finish_reason": decoded.finish_reason,
                         "message": {"role": "assistant", "content": decoded.text}}],
            "usage": {"prompt_tokens": decoded.tokens_in, "completion_tokens": decoded.tokens_out,
                      "total_tokens": decoded.tokens_in + decoded.tokens_out},
        })

    # -- plumbing -------------------------------------------------------------------------
    def _error(self, prompt: RenderedPrompt | str, cause: BaseException) -> LLMError:
        if isinstance(cause, LLMError):
            return cause
        detail = f"{type(cause).__name__}: {cause}"
        return LLMError(self.model_name, _ref(prompt), detail, max(self._tally.attempts, 1),
                        server=getattr(self.backend, "url", None))

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
        self._tally.reset()
        try:
            output = run()
        except LLMError as e:
            self.log.record(**row, error=str(e), latency_ms=(time.perf_counter() - started) * 1000,
                            attempts=e.attempts, tokens_in=self._tally.tokens_in or None,
                            tokens_out=self._tally.tokens_out or None)
            raise
        latency = (time.perf_counter() - started) * 1000
        tally = self._tally
        attempts, tokens_in, tokens_out, compute_ms = tally.attempts, tally.tokens_in, tally.tokens_out, tally.compute_ms
        self.log.record(**row, output=output, latency_ms=latency, compute_ms=compute_ms,
                        tokens_in=tokens_in, tokens_out=tokens_out, attempts=max(attempts, 1), cached=0)
        info = CallInfo(self.model_name, _ref(prompt), latency, compute_ms, tokens_in, tokens_out, False,
                        max(attempts, 1))
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
    from .remote import RemoteModel, detect_kind

    kind, model = config.kind, config.model
    if tuned is not None:
        model = tuned.manifest.served_name()
    if kind == "auto" or not model:
        detected, served = detect_kind(config.backend, timeout_s=min(config.timeout_s, 10.0))
        kind = detected if kind == "auto" else kind
        model = model or served
    if not model:
        raise ModelError(f"{config.backend} serves no model; pass --model NAME")
    return LLM(config, home, RemoteModel(config.backend, kind, model, config.timeout_s))
