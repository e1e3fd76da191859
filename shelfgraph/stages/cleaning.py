"""`cleaning`: which attribute values of a product of the batch are wrong; those are flagged
(status `rejected`), not retracted, and restored when no longer flagged."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from ..models import Product
from ..steps import Step, Triple
from .base import Stage, UnitOutput
from .inputs import BuildInputs


class CleaningStep(Step):
    """Data cleaning: how likely each (product, attribute, value) triple is wrong."""

    kind = "cleaning"

    def initialize(self, train: Sequence[Product]) -> None:
        """Learn from products whose attribute values are trusted."""

    @abstractmethod
    def score(self, triples: Sequence[Triple]) -> list[float | None]:
        """Probability that each triple is wrong; None where no score can be given."""


class CleaningUnit(BaseModel):
    product: Product
    triples: list[tuple[str, str, str]]  # (fact id, attribute, value), sorted


class CleaningStage(Stage[CleaningUnit], interface=CleaningStep, provenance_step="cleaning", order=50,
                    unit=CleaningUnit, per_product=True):
    def units(self, inputs: BuildInputs) -> Iterator[tuple[str, CleaningUnit | None]]:
        for products in inputs.product_chunks():
            facts = inputs.attribute_facts(products)
            for product in products:
                triples = sorted((fact.id, attribute, fact.object) for attribute, fact in facts[product.id])
                yield product.id, CleaningUnit(product=product, triples=triples) if triples else None

    def process(self, step: Any, units: Sequence[CleaningUnit], run_id: str,
                options: dict[str, Any]) -> list[UnitOutput]:
        triples, owners = [], []
        for index, unit in enumerate(units):
            for fact_id, attribute, value in unit.triples:
                triples.append(Triple(product=unit.product, attribute=attribute, value=value))
                owners.append((index, fact_id))
        scores = step.score(triples) if triples else []
        flagged: list[dict[str, str]] = [{} for _ in units]
        for (index, fact_id), score in zip(owners, scores):
            if score is not None and score >= options["cleaning_threshold"]:
                flagged[index][fact_id] = f"p(wrong)={score:.3f}"
        return [UnitOutput(key=u.product.id, flagged=f) for u, f in zip(units, flagged)]


STAGE = CleaningStage()
