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

A value copied from the title under the wrong attribute reads like a right one; what tells them
apart is what values of that attribute look like. Prompts that ask for `usual` (v3) show the
`usual_k` most common values of the attribute among the training products of the type
(`UsualValues`); a tuning example's own product is left out of the counts, as a test product
is not in them.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from shelfgraph.context import StepContext
from shelfgraph.models import Product, is_no_value, normalise_label
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


class UsualValues:
    """The values each attribute has among training products, per product type, most common first."""

    def __init__(self, products: Sequence[Product]):
        self.counts: dict[tuple[str, str], Counter[str]] = {}
        self.spelling: dict[str, str] = {}  # normalised value -> its first spelling
        for product in products:
            for attribute, values in product.attributes.items():
                for value in values:
                    if not is_no_value(value):
                        self.spelling.setdefault(normalise_label(value), value)
            for key, value in self._keyed(product):
                self.counts.setdefault(key, Counter())[value] += 1

    @staticmethod
    def _keyed(product: Product) -> list[tuple[tuple[str, str], str]]:
        """((type, attribute), normalised value) once per distinct value of the product."""
        kind = normalise_label(product.product_type or "")
        return sorted({((kind, attribute), normalise_label(value))
                       for attribute, values in product.attributes.items() for value in values if not is_no_value(value)})

    def usual(self, product: Product, attribute: str, k: int, leave_out: Product | None = None) -> list[str]:
        """The `k` most common values of `attribute` for `product`'s type (ties: first seen),
        without `leave_out`'s own values (a training product asked about itself)."""
        counts = Counter(self.counts.get((normalise_label(product.product_type or ""), attribute), Counter()))
        if leave_out is not None:
            counts.subtract(Counter(v for key, v in self._keyed(leave_out) if key[1] == attribute))
        return [self.spelling[v] for v, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n > 0][:k]


class CleaningAgent(LLMStepMixin, CleaningStep):
    def __init__(self, context: StepContext | None = None, prompt: str | None = None, k: int = 2,
                 evidence_k: int = 2, adapter: str | None = None, usual_k: int = 5):
        """`k` demonstrations (none with an `adapter`); `usual_k` usual values (prompts that show them)."""
        self._setup_llm(context, prompt, adapter, default=DEFAULT_PROMPT)
        self.index = None  # the CatalogIndex, opened on first use
        self.k = 0 if self.adapter else k
        self.evidence_k = evidence_k
        self.usual_k = usual_k
        self.usual_values = UsualValues([])
        self._demos: dict[str, list[dict]] = {}
        self.examples_set = ""  # the scope of the training set in the index (`initialize`)

    def _catalog(self):
        if self.index is None:
            self.index = self._index()
        return self.index

    def initialize(self, train: Sequence[Product]) -> None:
        """Count the training products' values; index them as demonstrations."""
        self._demos = {}
        self.usual_values = UsualValues(train)
        if self.k:
            from shelfgraph.retrieval.index import examples_set

            self.examples_set = examples_set(train)  # demonstrations come from this training set only
            self._catalog().index_examples(train, self.examples_set)

    def tuning_examples(self, train: Sequence[Product]) -> list[TuneExample]:
        """The products' gold triples, `TUNE_CORRUPT_RATE` of them corrupted, each asked zero-shot
        with the product's gold values hidden, as the eval task asks; no for a corrupted one.
        Usual values are counted over `train` without the asked product's own; no demonstration
        is shown (a tuned agent is asked zero-shot), so none is retrieved."""
        from shelfgraph.corruption import corrupt, gold_triples

        usual_values = UsualValues(train)
        examples = []
        for item in corrupt(gold_triples(train), rate=TUNE_CORRUPT_RATE, seed=0):
            product = item.triple.product.model_copy(update={"attributes": {}})
            triple = item.triple.model_copy(update={"product": product})
            usual = usual_values.usual(product, triple.attribute, self.usual_k, leave_out=item.triple.product)
            examples.append(yes_no_example(str(self._prompt(triple, usual, demos=[])), not item.corrupted,
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

    def _prompt(self, triple: Triple, usual: list[str] | None = None, demos: list[dict] | None = None) -> RenderedPrompt:
        """The question for `triple`; `usual` values default to the training products' (`initialize`),
        `demos` to the similar trusted products'."""
        product = triple.product
        if usual is None:
            usual = self.usual_values.usual(product, triple.attribute, self.usual_k)
        return self.prompt.render(
            examples=self._examples(product) if demos is None else demos, product_type=product.product_type or "product",
            title=product.title, evidence=self._evidence(triple), attribute=triple.attribute, value=triple.value,
            usual=usual)

    def _score_one(self, triple: Triple) -> float | None:
        return 1.0 - self.p_yes(self._prompt(triple))


def register_steps(register) -> None:
    register("cleaning", "agent", CleaningAgent,
             description="Gemma yes/no check of the value against the title and retrieved evidence, "
                         "with checks of similar trusted products as demonstrations; P(no) from log-probabilities")
