"""Cleaning agent: is this (product, attribute, value) right? Asked as a yes/no question whose
answer is scored by the model's log-probabilities (`LLM.choose`), so the score is P(no).

The prompt shows the product's title and, for products with a description, reviews or Q&A,
the sentences retrieved as evidence for "attribute: value". With few-shot prompts (v2), the
most similar trusted training products are shown with checks made from their own values: a
right value (yes), another attribute's value (no) and another product's value (no). Triples of
one product are asked one after another, so their shared prompt prefix is evaluated once.
With an `adapter` (`shelfgraph tune cleaning`) no demonstration is shown; it is tuned on
training products' own triples, a share corrupted exactly as the cleaning eval task corrupts
its test triples (`shelfgraph.corruption`), each asked as at inference.
"""

from __future__ import annotations

from typing import Sequence

from shelfgraph.context import StepContext
from shelfgraph.models import Product, normalise_label
from shelfgraph.prompting import RenderedPrompt
from shelfgraph.stages.cleaning import CleaningStep
from shelfgraph.steps import Triple
from shelfgraph.tuning.example import TuneExample

from ._llm_step import LLMStepMixin, yes_no_example

DEFAULT_PROMPT = "cleaning@v2"
TUNE_CORRUPT_RATE = 0.3  # the cleaning eval task's default share: the tuned P(no) is calibrated to it


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
                 evidence_k: int = 2, adapter: str | None = None):
        """`k` demonstrations (none with an `adapter`)."""
        self._setup_llm(context, prompt, adapter)
        self.index = None  # the CatalogIndex, opened on first use
        self.k = 0 if self.adapter else k
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
            from shelfgraph.retrieval.index import examples_set

            self.examples_set = examples_set(train)  # demonstrations come from this training set only
            self._catalog().index_examples(train, self.examples_set)

    def tuning_examples(self, train: Sequence[Product]) -> list[TuneExample]:
        """The products' gold triples, `TUNE_CORRUPT_RATE` of them corrupted, each asked zero-shot
        with the product's gold values hidden, as the eval task asks; no for a corrupted one."""
        from shelfgraph.corruption import corrupt, gold_triples

        examples = []
        for item in corrupt(gold_triples(train), rate=TUNE_CORRUPT_RATE, seed=0):
            product = item.triple.product.model_copy(update={"attributes": {}})
            triple = item.triple.model_copy(update={"product": product})
            examples.append(yes_no_example(str(self._prompt(triple)), not item.corrupted,
                                           source=f"{product.id}|{triple.attribute}"))
        return examples

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

    def _prompt(self, triple: Triple) -> RenderedPrompt:
        product = triple.product
        return self.prompt.render(
            examples=self._examples(product), product_type=product.product_type or "product", title=product.title,
            evidence=self._evidence(triple), attribute=triple.attribute, value=triple.value)

    def _score_one(self, triple: Triple) -> float | None:
        return 1.0 - self.p_yes(self._prompt(triple))


def register_steps(register) -> None:
    register("cleaning", "agent", CleaningAgent,
             description="Gemma yes/no check of the value against the title and retrieved evidence, "
                         "with checks of similar trusted products as demonstrations; P(no) from log-probabilities")
