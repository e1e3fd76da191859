"""Cleaning agent: is this (product, attribute, value) right? Asked as a yes/no question whose
answer is scored by the model's log-probabilities (`LLM.choose`), so the score is P(no).

The prompt shows the product's title and, for products with a description, reviews or Q&A,
the sentences retrieved as evidence for "attribute: value". With few-shot prompts (v2), the
most similar trusted training products are shown with checks made from their own values: a
right value (yes), another attribute's value (no) and another product's value (no). Triples of
one product are asked one after another, so their shared prompt prefix is evaluated once.
"""

from __future__ import annotations

from typing import Sequence

from shelfgraph.context import StepContext
from shelfgraph.models import Product, normalise_label
from shelfgraph.steps import CleaningStep, Triple

from ._llm_step import LLMStepMixin

DEFAULT_PROMPT = "cleaning@v2"


def checks(example: Product, others: Sequence[Product]) -> list[tuple[str, str, str]]:
    """(attribute, value, "yes"/"no") lines for a demonstration: per attribute of the example,
    its own value, then alternately another attribute's value or another product's value of
    the same attribute, when that differs from every value the example has."""
    own = {normalise_label(v) for values in example.attributes.values() for v in values}
    attributes = sorted(a for a, values in example.attributes.items() if values)
    lines: list[tuple[str, str, str]] = []
    for n, attribute in enumerate(attributes[:2]):
        lines.append((attribute, example.attributes[attribute][0], "yes"))
        wrong = None
        if n % 2 == 0 and len(attributes) > 1:
            other = attributes[(n + 1) % len(attributes)]
            wrong = example.attributes[other][0]
        else:
            swaps = [o.attributes[attribute][0] for o in others if o.attributes.get(attribute)]
            wrong = next((v for v in swaps if normalise_label(v) not in own), None)
        if wrong is not None and normalise_label(wrong) not in {normalise_label(v) for v in example.attributes[attribute]}:
            lines.append((attribute, wrong, "no"))
    return lines


class CleaningAgent(LLMStepMixin, CleaningStep):
    def __init__(self, context: StepContext | None = None, prompt: str = DEFAULT_PROMPT, k: int = 2,
                 evidence_k: int = 2):
        self._setup_llm(context, prompt)
        self.index = None  # the CatalogIndex, opened on first use
        self.k = k
        self.evidence_k = evidence_k
        self._demos: dict[str, list[dict]] = {}
        self.examples_set = ""  # the scope of the training set in the index (`initialize`)

    def _catalog(self):
        if self.index is None:
            self.index = self._index()
        return self.index

    def initialize(self, train: Sequence[Product]) -> None:
        """Index the trusted training products as demonstrations."""
        self._demos = {}
        if self.k:
            from retrieval.index import examples_set

            self.examples_set = examples_set(train)  # demonstrations come from this training set only
            self._catalog().index_examples(train, self.examples_set)

    def score(self, triples: Sequence[Triple]) -> list[float | None]:
        scores: list[float | None] = [None] * len(triples)
        for i in sorted(range(len(triples)), key=lambda i: triples[i].product.id):
            with self.timed_item():
                scores[i] = self._score_one(triples[i])
        return scores

    def _examples(self, product: Product) -> list[dict]:
        if not self.k:
            return []
        if product.id not in self._demos:
            similar = self._catalog().similar_examples(product, self.k + 1, scope=self.examples_set)
            self._demos[product.id] = [
                {"product_type": e.product_type or "product", "title": e.title,
                 "checks": checks(e, [o for o in similar if o.id != e.id])}
                for e in similar[: self.k]
            ]
        return self._demos[product.id]

    def _evidence(self, triple: Triple) -> list[str]:
        product = triple.product
        if not self.evidence_k or len(product.text_fields()) == 1:
            return []
        self._catalog().index_chunks([product])
        chunks = self._catalog().evidence(product.id, triple.attribute, self.evidence_k,
                                           query=f"{triple.attribute}: {triple.value}")
        return [c.text for c in chunks]

    def _score_one(self, triple: Triple) -> float | None:
        product = triple.product
        prompt = self.prompt.render(
            examples=self._examples(product), product_type=product.product_type or "product", title=product.title,
            evidence=self._evidence(triple), attribute=triple.attribute, value=triple.value)
        choice = self.llm.choose(prompt, ["yes", "no"])
        if choice.logprobs is None:  # a server without log-probabilities: the decision only
            return 1.0 if choice.option == "no" else 0.0
        return 1.0 - choice.confidence if choice.option == "yes" else choice.confidence


def register_steps(register) -> None:
    register("cleaning", "agent", CleaningAgent,
             description="Gemma yes/no check of the value against the title and retrieved evidence, "
                         "with checks of similar trusted products as demonstrations; P(no) from log-probabilities")
