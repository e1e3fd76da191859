"""`synonyms`: which types of the graph, and which values of one attribute, mean the same."""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from ..models import SAME_AS, Fact, Product, normalise_label, type_subject, value_subject
from ..steps import Pair, Step
from .base import Stage, UnitOutput
from .inputs import BuildInputs


class SynonymStep(Step):
    """Synonym finding: how likely two types or two values mean the same."""

    kind = "synonyms"

    def initialize(self, train: Sequence[Pair]) -> None:
        """Learn from labelled pairs."""

    @abstractmethod
    def score(self, pairs: Sequence[Pair]) -> list[float | None]: ...


class SynonymUnit(BaseModel):
    key: str  # "type", or "value:<attribute>"
    pairs: list[Pair]


class SynonymStage(Stage[SynonymUnit], interface=SynonymStep, provenance_step="synonyms", order=60,
                   unit=SynonymUnit, per_product=False):
    def units(self, inputs: BuildInputs) -> list[tuple[str, SynonymUnit]]:
        """One unit for the types of the graph and one per attribute for its values: the
        most similar pairs of labels (`synonym_candidates` at most)."""
        from rapidfuzz import fuzz

        groups = {f"value:{a}": ("value", a, v) for a, v in inputs.ledger.attribute_values().items()}
        groups["type"] = ("type", None, inputs.type_names())
        units = []
        for key, (kind, attribute, labels) in sorted(groups.items()):
            candidates = []
            ordered = sorted(labels)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1:]:
                    # 60 of 100: a loose, recall-first filter on shared words; the step judges the rest
                    similarity = fuzz.token_set_ratio(a.lower(), b.lower())
                    if similarity >= 60:
                        candidates.append((similarity, a, b))
            candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
            pairs = [Pair(a=a, b=b, kind=kind, attribute=attribute)
                     for _, a, b in candidates[: inputs.synonym_candidates]]
            if pairs:
                units.append((key, SynonymUnit(key=key, pairs=pairs)))
        return units

    def training(self, inputs: BuildInputs) -> tuple:
        return (training_pairs(inputs.labelled),)

    def process(self, step: Any, units: Sequence[SynonymUnit], run_id: str,
                options: dict[str, Any]) -> list[UnitOutput]:
        outputs = []
        for unit in units:
            facts = []
            for pair, score in zip(unit.pairs, step.score(unit.pairs) if unit.pairs else []):
                if score is None or score < options["synonym_threshold"]:
                    continue
                subject, obj = (_synonym_node(pair, pair.a), _synonym_node(pair, pair.b))
                facts.append(Fact(subject=subject, predicate=SAME_AS, object=obj, confidence=score,
                                  provenance=self.provenance(step, run_id)))
            outputs.append(UnitOutput(key=unit.key, facts=facts))
        return outputs


def _synonym_node(pair: Pair, label: str) -> str:
    return type_subject(label) if pair.kind == "type" else value_subject(pair.attribute or "", label)


def training_pairs(labelled: Sequence[Product]) -> list[Pair]:
    """Weak synonym labels from labelled products, for builds with no pair file: a value and
    its case/spacing variant mean the same; two different values of one attribute of one
    type do not."""
    by_attribute: dict[str, set[str]] = defaultdict(set)
    for product in labelled:
        for attribute, values in product.attributes.items():
            by_attribute[attribute].update(values)
    pairs = []
    for attribute, values in sorted(by_attribute.items()):
        ordered = sorted(values)
        by_norm: dict[str, list[str]] = defaultdict(list)
        for value in ordered:
            by_norm[normalise_label(value).replace("-", " ")].append(value)
        for variants in by_norm.values():
            pairs += [Pair(a=a, b=b, attribute=attribute, label=1) for a, b in zip(variants, variants[1:])]
        # at most 50 negatives an attribute (neighbours in sorted order: near misses), so an
        # attribute with thousands of values does not drown the few positives
        pairs += [Pair(a=a, b=b, attribute=attribute, label=0)
                  for a, b in zip(ordered, ordered[1:]) if normalise_label(a) != normalise_label(b)][:50]
    return pairs


STAGE = SynonymStage()
