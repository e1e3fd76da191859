"""`type`: the product type phrase of each product of the batch (taxonomy enrichment, part 1)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from ..models import PRODUCT_TYPE, Fact, Product, normalise_label, product_subject
from ..steps import Extraction, Step
from ..typenames import descriptor_words, is_type_phrase, words
from .base import Stage, UnitOutput
from .inputs import TAXONOMY, BuildInputs


class TypeStep(Step):
    """Taxonomy enrichment, part 1: the product type phrase of each product."""

    kind = "type"

    def initialize(self, train: Sequence[Product]) -> None:
        """Learn from products whose type phrase is known (`attributes['Product Type']` or
        `product_type` found in the title)."""

    @abstractmethod
    def predict(self, products: Sequence[Product]) -> list[Extraction | None]: ...


class ProductUnit(BaseModel):
    product: Product
    # the title's words that describe rather than name (`typenames.descriptor_words`): a
    # phrase headed by one is no type. Only the title's own, so one product's unit changes
    # only when what it can be told changes.
    descriptors: list[str] = []


class TypeStage(Stage[ProductUnit], interface=TypeStep, provenance_step=TAXONOMY, order=10,
                unit=ProductUnit, per_product=True):
    def units(self, inputs: BuildInputs) -> Iterator[tuple[str, ProductUnit]]:
        descriptors = descriptor_words(inputs.known_types(), inputs.labelled)
        for products in inputs.product_chunks():
            yield from ((p.id, ProductUnit(product=p, descriptors=sorted(descriptors.intersection(words(p.title)))))
                        for p in products)

    def process(self, step: Any, units: Sequence[ProductUnit], run_id: str,
                options: dict[str, Any]) -> list[UnitOutput]:
        products = [u.product for u in units]
        outputs = []
        for unit, found in zip(units, step.predict(products)):
            product, facts = unit.product, []
            if found is not None and is_type_phrase(found.value, unit.descriptors):
                facts.append(Fact(subject=product_subject(product.id), predicate=PRODUCT_TYPE,
                                  object=normalise_label(found.value), confidence=found.confidence,
                                  provenance=self.provenance(step, run_id, source_field=found.field,
                                                             start=found.start, end=found.end)))
            outputs.append(UnitOutput(key=product.id, facts=facts))
        return outputs


STAGE = TypeStage()
