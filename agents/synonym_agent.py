"""Synonym agent: do two product types, or two values of one attribute, mean the same? A yes/no
question scored by the model's log-probabilities (`LLM.choose`): the score is P(yes).

The question names what is compared (the attribute, or "product type"). With few-shot prompts
(v2), labelled training pairs of the same attribute (else of the same kind) are shown first,
positives and negatives alternating; they are the same for every pair of an attribute and
pairs are asked grouped by attribute, so the shared prompt prefix is evaluated once. With an
`adapter` (`shelfgraph tune synonyms`) no demonstration is shown.
"""

from __future__ import annotations

from itertools import chain, zip_longest
from typing import Sequence

from shelfgraph.context import StepContext
from shelfgraph.stages.synonyms import SynonymStep
from shelfgraph.steps import Pair
from shelfgraph.tuning.example import TuneExample

from ._llm_step import LLMStepMixin, yes_no_example

DEFAULT_PROMPT = "synonyms@v2"


def what(pair: Pair) -> str:
    return "product type" if pair.kind == "type" else f"{pair.attribute} value" if pair.attribute else "value"


class SynonymAgent(LLMStepMixin, SynonymStep):
    def __init__(self, context: StepContext | None = None, prompt: str | None = None, k: int = 4,
                 adapter: str | None = None):
        """`k` labelled demonstrations per question (half positive, half negative; none with
        an `adapter`)."""
        self._setup_llm(context, prompt, adapter, default=DEFAULT_PROMPT)
        self.k = 0 if self.adapter else k
        self.train: list[Pair] = []

    def initialize(self, train: Sequence[Pair]) -> None:
        self.train = [p for p in train if p.label is not None]

    def demonstrations(self, pair: Pair) -> list[tuple[str, str, str]]:
        """Training pairs of the same attribute (else kind), positives and negatives alternating."""
        same = [p for p in self.train if p.kind == pair.kind and p.attribute == pair.attribute] or \
               [p for p in self.train if p.kind == pair.kind]
        same = [p for p in same if {p.a, p.b} != {pair.a, pair.b}]
        positives = [p for p in same if p.label == 1][: (self.k + 1) // 2]
        negatives = [p for p in same if p.label == 0][: self.k // 2]
        ordered = [p for p in chain.from_iterable(zip_longest(negatives, positives)) if p is not None]
        return [(p.a, p.b, "yes" if p.label == 1 else "no") for p in ordered]

    def _render(self, pair: Pair, examples: list[tuple[str, str, str]]):
        return self.prompt.render(a=pair.a, b=pair.b, what=what(pair), examples=examples)

    def tuning_examples(self, train: Sequence[Pair]) -> list[TuneExample]:
        """Each labelled pair's zero-shot question answered yes or no."""
        return [yes_no_example(str(self._render(p, [])), p.label == 1) for p in train if p.label is not None]

    def score(self, pairs: Sequence[Pair]) -> list[float | None]:
        scores: list[float | None] = [None] * len(pairs)
        for i in sorted(range(len(pairs)), key=lambda i: (pairs[i].kind, pairs[i].attribute or "")):
            with self.timed_item():
                pair = pairs[i]
                scores[i] = self.p_yes(self._render(pair, self.demonstrations(pair) if self.k else []))
        return scores


def register_steps(register) -> None:
    register("synonyms", "agent", SynonymAgent,
             description="Gemma yes/no judgement with the attribute named and labelled pairs of it as "
                         "demonstrations; P(yes) from log-probabilities")
