"""`relations`: which attributes apply to each type of the graph, and how important each is."""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from ..models import APPLICABLE, IMPORTANCE_PREFIX, Fact, Product, TaxonomyNode, normalise_label, type_subject
from ..steps import AttributeScore, RelationQuery, Step
from .base import Stage, UnitOutput
from .inputs import BuildInputs


class RelationStep(Step):
    """Relation discovery: which attributes apply to a type, and how important each is."""

    kind = "relations"

    @abstractmethod
    def initialize(self, known: dict[str, list[str]], taxonomy: Sequence[TaxonomyNode] = ()) -> None:
        """`known` maps type names to the attributes known to apply to them."""

    @abstractmethod
    def predict(self, queries: Sequence[RelationQuery]) -> list[list[AttributeScore]]: ...


class RelationUnit(BaseModel):
    query: RelationQuery


class RelationStage(Stage[RelationUnit], interface=RelationStep, provenance_step="relations", order=30,
                    unit=RelationUnit, per_product=False):
    def units(self, inputs: BuildInputs) -> Iterator[tuple[str, RelationUnit]]:
        """One unit per type of the graph, with its first `relation_products` stored products
        (in the order stored: later products leave a full unit as it was) and the labelled
        examples of the type, whose values make AutoKnow's frequency features meaningful.
        Only the ids are gathered over the store; a unit's products are read when it is made."""
        first: dict[str, list[str]] = defaultdict(list)
        spelling = inputs.spelling()  # the type stage ran before: the graph's types hold still
        for catalogue in inputs.ledger.catalogue_type_pages(inputs.chunk_size):
            for product_id, types in inputs.types_of_ids(catalogue, spelling).items():
                for type_name in types:
                    if len(first[type_name]) < inputs.relation_products:
                        first[type_name].append(product_id)
        examples: dict[str, list[Product]] = defaultdict(list)
        for product in inputs.labelled:
            if product.product_type:
                examples[normalise_label(product.product_type)].append(product)
        for type_name in sorted(first):
            stored = inputs.ledger.products_by_id(first[type_name])
            products = [stored[i] for i in first[type_name]] + examples[type_name]
            path = [n.name for n in inputs.placement(type_name)]
            yield type_name, RelationUnit(query=RelationQuery(type_name=type_name, path=path, products=products))

    def training(self, inputs: BuildInputs) -> tuple:
        return (attributes_by_type(inputs.labelled), inputs.ledger.taxonomy_nodes())

    def process(self, step: Any, units: Sequence[RelationUnit], run_id: str,
                options: dict[str, Any]) -> list[UnitOutput]:
        queries = [u.query for u in units]
        outputs = []
        for query, scores in zip(queries, step.predict(queries)):
            subject = type_subject(query.type_name)
            facts = []
            for score in scores:
                if score.applicable < options["applicable_threshold"]:
                    continue
                provenance = self.provenance(step, run_id)
                facts.append(Fact(subject=subject, predicate=APPLICABLE, object=score.attribute,
                                  confidence=score.applicable, provenance=provenance))
                if score.importance is not None:
                    facts.append(Fact(subject=subject, predicate=IMPORTANCE_PREFIX + score.attribute,
                                      object=f"{score.importance:.3f}", confidence=score.applicable,
                                      provenance=provenance))
            outputs.append(UnitOutput(key=query.type_name, facts=facts))
        return outputs


def attributes_by_type(labelled: Iterable[Product]) -> dict[str, list[str]]:
    """Normalised type name -> the attributes its labelled products have values for."""
    known: dict[str, set[str]] = defaultdict(set)
    for product in labelled:
        if product.product_type:
            known[normalise_label(product.product_type)].update(product.attributes)
    return {t: sorted(a) for t, a in known.items()}


STAGE = RelationStage()
