"""`imputation`: values of the applicable attributes a product of the batch lacks, found in
its own text."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from ..models import Fact, Product, attribute_predicate, product_subject
from ..steps import Extraction, Step
from .base import Stage, UnitOutput
from .inputs import BuildInputs


class ImputationStep(Step):
    """Data imputation: values of a type's attributes, found in the product's own text."""

    kind = "imputation"

    def initialize(self, train: Sequence[Product]) -> None:
        """Learn from products with gold attribute values."""

    @abstractmethod
    def predict(
        self, products: Sequence[Product], attributes: Sequence[Sequence[str]]
    ) -> list[list[Extraction]]:
        """For product i, values of `attributes[i]`; an attribute with no value is omitted."""


class ImputationUnit(BaseModel):
    product: Product
    attributes: list[str]  # the applicable attributes the catalogue gives no value for


class ImputationStage(Stage[ImputationUnit], interface=ImputationStep, provenance_step="imputation", order=40,
                      unit=ImputationUnit, per_product=True):
    def units(self, inputs: BuildInputs) -> Iterator[tuple[str, ImputationUnit | None]]:
        applicable: dict[str, list[str]] = {}  # per type: the relations stage ran before, it holds still
        spelling = inputs.spelling()  # the type stage ran before: the graph's types hold still too
        for products in inputs.product_chunks():
            types, facts = inputs.types_of(products, spelling), inputs.attribute_facts(products)
            for product in products:
                # What the catalogue states counts even when cleaning rejected it.
                have = {a for a, fact in facts[product.id] if fact.provenance.step == "ingest"}
                for name in types[product.id]:
                    if name not in applicable:
                        applicable[name] = inputs.applicable(name)
                wanted = sorted({a for name in types[product.id] for a in applicable[name]} - have)
                yield product.id, ImputationUnit(product=product, attributes=wanted) if wanted else None

    def process(self, step: Any, units: Sequence[ImputationUnit], run_id: str,
                options: dict[str, Any]) -> list[UnitOutput]:
        products = [u.product for u in units]
        attributes = [u.attributes for u in units]
        outputs = []
        for product, wanted, found in zip(products, attributes, step.predict(products, attributes)):
            facts = []
            for extraction in found:
                if extraction.attribute not in wanted or not _grounded(product, extraction):
                    continue
                facts.append(Fact(subject=product_subject(product.id),
                                  predicate=attribute_predicate(extraction.attribute),
                                  object=extraction.value, confidence=extraction.confidence,
                                  provenance=self.provenance(step, run_id, source_field=extraction.field,
                                                             start=extraction.start, end=extraction.end)))
            outputs.append(UnitOutput(key=product.id, facts=facts))
        return outputs


def _grounded(product: Product, extraction: Extraction) -> bool:
    """An imputed value is stored only where it is the text at its recorded offsets."""
    if extraction.field is None or extraction.start is None or extraction.end is None:
        return False
    try:
        text = product.field_text(extraction.field)
    except KeyError:
        return False
    return text[extraction.start:extraction.end] == extraction.value


STAGE = ImputationStage()
