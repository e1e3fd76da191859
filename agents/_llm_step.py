"""What every LLM agent step shares: a prompt template chosen by `name@version`, the model
built on first use from the step context, a signature naming both, and what it cost (items
asked, seconds per item).

The signature's prompt is the template's ref (`name@version#hash`), never a rendered prompt,
so it names what the output depends on without depending on the input.

A step given an `adapter` (a folder written by `shelfgraph tune`, or `bundled:STEP`) runs the model with that
LoRA applied and prompts zero-shot, as it was tuned: the adapter must have been tuned for this
step and prompt (a step given no prompt takes the adapter's). Its hash is in the model's name, so in the signature and the call cache key.

Judges (cleaning, synonyms) ask yes/no questions and read P(yes) from the two answers'
log-probabilities (`p_yes`); they are tuned on the same question, the loss taken on the two
answer tokens only (`yes_no_example`). A tuned judge is scored on the answer token alone, the
very softmax it was tuned on: its scores are calibrated on the tuning data's label balance.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from shelfgraph.context import StepContext
from shelfgraph.prompting import Prompt, RenderedPrompt, load_prompt
from shelfgraph.steps import Signature
from shelfgraph.tuning.example import Piece, TuneExample

YES_NO = ("yes", "no")

if TYPE_CHECKING:
    from shelfgraph.llm import LLM


class LLMStepMixin:
    """Mixed into a Step: `self.llm` loads the model lazily; `signature()` names model and prompt."""

    method: str
    kind: str

    def _setup_llm(self, context: StepContext | None, prompt: str | None, adapter: str | Path | None = None, *,
                   default: str) -> None:
        """`prompt` (name@version) None: the one the adapter was tuned with, else `default`."""
        self.context = context or StepContext()
        tuned = None
        if adapter:  # a wrong folder, step or prompt fails now, not at the first call
            from shelfgraph.tuning.manifest import open_adapter

            tuned = open_adapter(adapter)
        self.prompt: Prompt = load_prompt(prompt or (tuned.manifest.prompt_name if tuned else default))
        self.adapter: Path | None = None  # the folder (`bundled:STEP` resolved)
        if tuned is not None:
            tuned.check_step(self.kind, self.prompt.ref)
            self.adapter = tuned.folder
        self._llm: "LLM | None" = None
        self.items_seen = 0  # items the model was asked about, and the wall seconds they took
        self.seconds = 0.0

    @contextmanager
    def timed_item(self) -> Iterator[None]:
        """Count one item and add its wall time (retrieval included) to `stats()`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started
            self.items_seen += 1

    def stats(self) -> dict[str, float | int | None]:
        """Items asked and wall seconds per item: what the agent costs beside what it scores."""
        return {"agent_items": self.items_seen,
                "agent_s_per_item": round(self.seconds / self.items_seen, 3) if self.items_seen else None}

    @property
    def llm(self) -> "LLM":
        if self._llm is None:
            from shelfgraph.llm import get_llm

            self._llm = get_llm(self.context.llm, self.context.home, adapter=self.adapter)
        return self._llm

    def signature(self) -> Signature:
        return Signature(method=self.method, model=self.llm.model_name, prompt=self.prompt.ref)

    def p_yes(self, prompt: RenderedPrompt | str) -> float:
        """P(yes) to a yes/no question; 1 or 0 from a server without log-probabilities (the
        decision only, never a made-up score)."""
        choice = self.llm.choose(prompt, list(YES_NO), end="" if self.adapter else "\n")
        if choice.logprobs is None or choice.confidence is None:
            return 1.0 if choice.option == "yes" else 0.0
        return choice.confidence if choice.option == "yes" else 1.0 - choice.confidence

    def _index(self):
        """The Chroma index of the context; without one, a persistent one under home (its
        records are content-hashed, so a later run embeds only what changed). Other runs'
        training sets and taxonomies there are never retrieved: a step queries its own set.
        Processes take turns on a folder (`retrieval.folder`); many writing at once go faster
        through a Chroma server (`chroma_url`)."""
        from shelfgraph.retrieval.index import CatalogIndex

        if self.context.index_dir is None and self.context.chroma_url is None:
            return CatalogIndex.open(path=self.context.home / "agent-index")
        return CatalogIndex.from_context(self.context)


def yes_no_example(prompt: str, yes: bool, source: str | None = None) -> TuneExample:
    """A judge's tuning example: the question and its answer, a choice between " yes" and " no"."""
    options = [f" {o}" for o in YES_NO]
    return TuneExample(prompt=prompt, source=source,
                       pieces=[Piece(text=options[0] if yes else options[1], answer=True, options=options)])
