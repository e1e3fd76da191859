"""`hypernym`: where each new type of the graph goes in the taxonomy (taxonomy enrichment, part 2)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from ..models import BROADER, Fact, TaxonomyNode, type_subject
from ..steps import Scored, Step
from .base import Stage, UnitOutput
from .inputs import TAXONOMY, BuildInputs


class HypernymStep(Step):
    """Taxonomy enrichment, part 2: where a new type goes in an existing taxonomy."""

    kind = "hypernym"

    @abstractmethod
    def initialize(self, taxonomy: Sequence[TaxonomyNode]) -> None: ...

    @abstractmethod
    def rank(self, names: Sequence[str], k: int = 5) -> list[list[Scored]]:
        """Candidate parent node ids for each type name, best first."""

    def candidates(self, names: Sequence[str], k: int = 5) -> list[list[str]] | None:
        """The node ids `rank` chooses among for each name, or None when it ranks every node:
        a parent outside them cannot come first, so their recall caps the step's top-1."""
        return None

    def score(self, names: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[list[float | None]]:
        """Each given candidate node's score as the parent of its name: a stacked hybrid has
        both sides score one candidate set."""
        raise NotImplementedError(f"{type(self).__name__} does not score given candidates")


class HypernymUnit(BaseModel):
    type_name: str
    taxonomy: str  # content hash of the taxonomy: a placement is redone when the taxonomy changes


class HypernymStage(Stage[HypernymUnit], interface=HypernymStep, provenance_step=TAXONOMY, order=20,
                    unit=HypernymUnit, per_product=False):
    def units(self, inputs: BuildInputs) -> list[tuple[str, HypernymUnit]]:
        """Types of the graph that neither the catalogue nor the taxonomy knows."""
        new = sorted(inputs.type_names() - inputs.known_types())
        taxonomy = inputs.taxonomy_hash()
        return [(name, HypernymUnit(type_name=name, taxonomy=taxonomy)) for name in new]

    def training(self, inputs: BuildInputs) -> tuple:
        return (inputs.ledger.taxonomy_nodes(),)

    def process(self, step: Any, units: Sequence[HypernymUnit], run_id: str,
                options: dict[str, Any]) -> list[UnitOutput]:
        names = [u.type_name for u in units]
        outputs = []
        for name, ranked in zip(names, step.rank(names, k=options["hypernym_k"])):
            facts = []
            if ranked:
                best = ranked[0]
                facts.append(Fact(subject=type_subject(name), predicate=BROADER, object=best.label,
                                  confidence=best.score, provenance=self.provenance(step, run_id)))
            outputs.append(UnitOutput(key=name, facts=facts))
        return outputs


STAGE = HypernymStage()
