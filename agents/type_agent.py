"""Type agent: the product-type phrase of a title, chosen by the model among the title's spans.

A base model of 270M parameters follows a pattern far better than an instruction, so the
prompt is a list of demonstrations ("Title: ...\\nProduct type: ...") from the training
products whose type phrase occurs in their title, and the model continues the form for the
new title. `LLM.extract_spans` decodes the answer restricted to spans of the title (or
"n/a"), so every phrase is grounded: the Extraction carries the title's character offsets,
and its confidence is the probability of the decoded span.

Templates receive both kinds of demonstrations and show the ones they want:
`fixed_examples` (one per category, the same prefix for every product, so the model
evaluates it once) and `nearest_examples` (the training titles nearest to the product by
MiniLM similarity, the nearest last). `type@v1` shows the fixed set, `type@v2` the nearest.
v1 is the default: on 15 WDC-PAVE training titles both scored F1 40, and v1 took 22 s a
title against 37 s on a busy CPU (docs/results.md).

With an `adapter` (`shelfgraph tune type`) no demonstration is shown: the prompt is the
instruction and the title, the one `tuning_examples` trains on.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from shelfgraph.context import StepContext
from shelfgraph.llm import span_candidates
from shelfgraph.models import TYPE_ATTRIBUTE, Product
from shelfgraph.stages.type import TypeStep
from shelfgraph.steps import Extraction
from shelfgraph.tuning.example import Piece, TuneExample

from ._llm_step import LLMStepMixin

LINE = "Product type:"
FIELD = "title"


def title_phrase(product: Product) -> str | None:
    """The product's type phrase as written in its title, or None when the title has none.

    The annotated "Product Type" values come first; then the product type itself, or its
    last word ("Breakfast Cereal" -> "Cereal"), singular or plural."""
    wanted = [*product.attributes.get(TYPE_ATTRIBUTE, []), *([product.product_type] if product.product_type else [])]
    for phrase in wanted:
        found = _find(product.title, re.escape(phrase.strip()))
        if found:
            return found
    if product.product_type:
        head = product.product_type.split()[-1].rstrip("s")
        return _find(product.title, re.escape(head) + "s?")
    return None


def _find(title: str, pattern: str) -> str | None:
    match = re.search(rf"(?<!\w){pattern}(?!\w)", title, flags=re.IGNORECASE) if pattern else None
    return match.group() if match else None


class TypeAgent(LLMStepMixin, TypeStep):
    def __init__(self, context: StepContext | None = None, prompt: str | None = None, examples: int = 3,
                 fixed: int = 3, max_span_words: int = 5, adapter: str | None = None):
        """`examples`: nearest demonstrations per title; `fixed`: the fixed set's size (it
        costs one evaluation in all, so it can be larger). Neither with an `adapter`."""
        self._setup_llm(context, prompt, adapter, default="type@v1")
        self.examples, self.fixed = (0, 0) if self.adapter else (examples, fixed)
        self.max_span_words = max_span_words
        self.demos: list[dict[str, str]] = []
        self._fixed: list[dict[str, str]] = []
        self._demo_vectors = None

    def initialize(self, train: Sequence[Product]) -> None:
        """Keep the training titles whose type phrase is in the title as demonstrations."""
        self.demos, categories = [], []
        for product in train:
            phrase = title_phrase(product)
            if phrase:
                self.demos.append({"title": product.title, "type": phrase})
                categories.append(product.product_type or "")
        self._fixed = _one_per_category(self.demos, categories, self.fixed)
        self._demo_vectors = None

    def _nearest(self, titles: Sequence[str]) -> list[list[dict[str, str]]]:
        """The training titles nearest to each title (never the title itself), nearest last:
        the closest demonstration sits right above the question."""
        if not self.demos or not self.examples:
            return [[] for _ in titles]
        from shelfgraph.retrieval.embeddings import cosine_top_k, embed

        if self._demo_vectors is None:
            self._demo_vectors = embed([d["title"] for d in self.demos])
        indices, _ = cosine_top_k(embed(list(titles)), self._demo_vectors, self.examples)
        return [[self.demos[i] for i in reversed(row) if self.demos[i]["title"] != title]
                for title, row in zip(titles, indices.tolist())]

    def _render(self, title: str, fixed: list[dict[str, str]], nearest: list[dict[str, str]]):
        return self.prompt.render(fixed_examples=fixed, nearest_examples=nearest, title=title)

    def tuning_examples(self, train: Sequence[Product]) -> list[TuneExample]:
        """The zero-shot prompt of each training title whose type phrase is one of its spans,
        answered with that phrase (a title without one teaches nothing about where it is)."""
        examples = []
        for product in train:
            phrase = title_phrase(product)
            if phrase and phrase in {s.value for s in span_candidates(product.title, self.max_span_words)}:
                examples.append(TuneExample(prompt=str(self._render(product.title, [], [])), source=product.source,
                                            pieces=[Piece(text=LINE), Piece(text=f" {phrase}\n", answer=True)]))
        return examples

    def predict(self, products: Sequence[Product]) -> list[Extraction | None]:
        results: list[Extraction | None] = []
        for product, nearest in zip(products, self._nearest([p.title for p in products])):
            rendered = self._render(product.title, self._fixed, nearest)
            with self.timed_item():
                spans = self.llm.extract_spans(rendered, product.title, [TYPE_ATTRIBUTE], line=LINE,
                                               max_span_tokens=self.max_span_words).value
            span = spans[TYPE_ATTRIBUTE]
            results.append(None if span is None else Extraction(
                value=span.value, attribute=TYPE_ATTRIBUTE, field=FIELD, start=span.start, end=span.end,
                confidence=span.confidence))
        return results


def _one_per_category(demos: list[dict[str, str]], categories: list[str], n: int) -> list[dict[str, str]]:
    """`n` demonstrations taking categories in turn, shortest title first in each."""
    by_category: dict[str, list[dict[str, str]]] = {}
    for demo, category in sorted(zip(demos, categories), key=lambda pair: len(pair[0]["title"])):
        by_category.setdefault(category, []).append(demo)
    chosen: list[dict[str, str]] = []
    queues = [list(q) for _, q in sorted(by_category.items())]
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    return chosen


def _factory(context: StepContext | None = None, **config: Any) -> TypeAgent:
    return TypeAgent(context=context, **config)


def register_steps(register) -> None:
    register("type", "agent", _factory, default_config={"prompt": None, "examples": 3, "fixed": 3,
                                                        "max_span_words": 5, "adapter": None},
             description="LLM continues 'Product type:' after demonstrations, decoding only spans of the title "
                         "(type@v1: fixed demonstrations; type@v2: nearest training titles)")
