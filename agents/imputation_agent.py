"""Imputation agent: attribute values read off a product's own text by the LLM, few-shot.

For each product, k labelled training products (retrieval, same type first) are shown as
filled-in forms of the type's attributes; the model then fills the product's form, one
attribute per line, each answer chosen among the spans of the title or "n/a"
(`LLM.extract_spans`), so every value is grounded with its offsets. Demonstrations are the k
most similar to each product (`demos="product"`), or the k closest to the type's name, the same
for every product of a type (`demos="type"`): the prompt prefix is then identical and the model
evaluates it once per type, not once per product (several times faster on a CPU). Values the
product already has for attributes not asked for are written into its form as given.

Attributes still empty after the title are looked for in the description, review and Q&A
sentences retrieved for them (`CatalogIndex.evidence`), with the chunk's offsets shifted into
its source field.

With an `adapter` (`shelfgraph tune imputation`) the form is filled zero-shot: the prompt is the
product's own form, the one `tuning_examples` trains on, answers still spans of the text.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Literal, Sequence

from shelfgraph.context import StepContext
from shelfgraph.llm import NA, span_candidates
from shelfgraph.models import Product
from shelfgraph.stages.imputation import ImputationStep
from shelfgraph.steps import Extraction
from shelfgraph.tuning.example import Piece, TuneExample

from ._llm_step import LLMStepMixin

DEFAULT_PROMPT = "imputation@v2"


def demonstration(example: Product, attributes: Sequence[str]) -> dict:
    """A labelled product as the prompt shows it: its title and a value (or n/a) per attribute."""
    return {"product_type": example.product_type or "product", "text": example.title,
            "answers": [(a, (example.attributes.get(a) or [NA])[0]) for a in attributes]}


class ImputationAgent(LLMStepMixin, ImputationStep):
    def __init__(self, context: StepContext | None = None, prompt: str | None = None, k: int = 5,
                 demos: Literal["product", "type"] = "product", max_span_words: int = 6, evidence_k: int = 2,
                 adapter: str | None = None):
        """`k` demonstrations per product (none with an `adapter`); `evidence_k` sentences
        searched per attribute left empty by the title (only for products with a description,
        reviews or Q&A)."""
        if demos not in ("product", "type"):
            raise ValueError(f"demos must be 'product' or 'type', got {demos!r}")
        self._setup_llm(context, prompt, adapter, default=DEFAULT_PROMPT)
        self.index = None  # the CatalogIndex, opened on first use
        self.k = 0 if self.adapter else k
        self.demos = demos
        self.forms: dict[str, list[str]] = {}  # type -> its attributes in training, most frequent first
        self._type_examples: dict[str, list[Product]] = {}
        self.examples_set = ""  # the scope of the training set in the index (`initialize`)
        self.max_span_words = max_span_words
        self.evidence_k = evidence_k

    def _catalog(self):
        if self.index is None:
            self.index = self._index()
        return self.index

    def initialize(self, train: Sequence[Product]) -> None:
        """Index the labelled training products as demonstrations; learn each type's form."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for product in train:
            counts[product.product_type or ""].update(list(product.attributes))
        self.forms = {t: [a for a, _ in c.most_common()] for t, c in counts.items()}
        self._type_examples = {}
        if self.k:
            from shelfgraph.retrieval.index import examples_set

            self.examples_set = examples_set(train)  # demonstrations come from this training set only
            self._catalog().index_examples(train, self.examples_set)

    def predict(self, products: Sequence[Product], attributes: Sequence[Sequence[str]]) -> list[list[Extraction]]:
        if len(products) != len(attributes):
            raise ValueError(f"{len(products)} products but {len(attributes)} attribute lists")
        results: list[list[Extraction]] = [[] for _ in products]
        # products of one type together: with type demonstrations their prompts share a prefix
        for i in sorted(range(len(products)), key=lambda i: products[i].product_type or ""):
            wanted = list(dict.fromkeys(attributes[i]))
            if wanted:
                with self.timed_item():
                    results[i] = self._predict_one(products[i], wanted)
        return results

    def _examples(self, product: Product) -> list[Product]:
        if not self.k:
            return []
        if self.demos == "product":
            return self._catalog().similar_examples(product, self.k, scope=self.examples_set)
        type_name = product.product_type or "product"
        if type_name not in self._type_examples:
            query = Product(id=f"type:{type_name}", title=type_name, product_type=product.product_type)
            self._type_examples[type_name] = self._catalog().similar_examples(query, self.k, scope=self.examples_set)
        return self._type_examples[type_name]

    def _predict_one(self, product: Product, wanted: list[str]) -> list[Extraction]:
        form = list(dict.fromkeys([*self.forms.get(product.product_type or "", []), *wanted]))
        demos = [demonstration(e, form) for e in self._examples(product)]
        given = [(a, product.attributes[a][0]) for a in form if a not in wanted and product.attributes.get(a)]
        found = self._read(product, demos, "Title", "title", product.title, 0, wanted, given)
        missing = [a for a in wanted if a not in {e.attribute for e in found}]
        if missing and len(product.text_fields()) > 1:
            self._catalog().index_chunks([product])
            for attribute in missing:
                for chunk in self._catalog().evidence(product.id, attribute, self.evidence_k):
                    hit = self._read(product, demos, "Text", chunk.field, chunk.text, chunk.start, [attribute], [])
                    if hit:
                        found.extend(hit)
                        break
        return found

    def _render(self, product: Product, demos: list[dict], source: str, text: str, given: list[tuple[str, str]]):
        return self.prompt.render(examples=demos, source=source, product_type=product.product_type or "product",
                                  text=text, given=given)

    def _read(self, product: Product, demos: list[dict], source: str, field: str, text: str, offset: int,
              attributes: list[str], given: list[tuple[str, str]]) -> list[Extraction]:
        """Fill `attributes` from `text`, a span of `field` starting at `offset`."""
        prompt = self._render(product, demos, source, text, given)
        spans = self.llm.extract_spans(prompt, text, attributes, max_span_tokens=self.max_span_words).value
        return [Extraction(value=s.value, attribute=a, field=field, start=offset + s.start, end=offset + s.end,
                           confidence=s.confidence)
                for a, s in spans.items() if s is not None]

    def tuning_examples(self, train: Sequence[Product]) -> list[TuneExample]:
        """Each training product's zero-shot title form, as `predict` asks it, answered with
        its gold values: every attribute known for its type in `train` (first seen first, the
        eval's order), the value as the title's own span, or n/a. A gold value that is no span
        of the title is written but not trained on: the decoder could never produce it."""
        known: dict[str, dict[str, None]] = defaultdict(dict)
        for product in train:
            known[product.product_type or ""].update(dict.fromkeys(product.attributes))
        examples = []
        for product in train:
            spans = {s.value.casefold(): s.value for s in span_candidates(product.title, self.max_span_words)}
            pieces = []
            for attribute in known[product.product_type or ""]:
                gold = product.attributes.get(attribute) or []
                value = next((spans[v.casefold()] for v in gold if v.casefold() in spans), None)
                pieces += [Piece(text=f"{attribute}:"),
                           Piece(text=f" {value or (gold[0] if gold else NA)}\n", answer=value is not None or not gold)]
            prompt = self._render(product, [], "Title", product.title, [])
            examples.append(TuneExample(prompt=str(prompt), pieces=pieces, source=product.source))
        return examples


def register_steps(register) -> None:
    register("imputation", "agent", ImputationAgent,
             description="Gemma few-shot form filling over retrieved labelled examples; values are "
                         "title spans (then evidence sentences) chosen by log-probability")
