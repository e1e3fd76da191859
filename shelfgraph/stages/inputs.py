"""What the stages of one build read: the batch, the labelled products, and the graph as it
stands when the stage runs (each stage reads what the ones before it wrote).

Which products a stage reads: the product-level stages work on the batch, one unit per
product of it (after `--limit`). The graph-level stages work on the whole graph: every product
in the store, its types (catalogue `product_type` and active `product_type` facts of the type
stage) and its active attribute facts. So a second batch, or a smaller `--limit`, leaves the
units of types and values it does not touch unchanged: same input hash, skipped, nothing
retracted; a type or value gone from the whole graph is retired.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..models import (APPLICABLE, ATTRIBUTE_PREFIX, BROADER, PRODUCT_TYPE, Fact, Product, TaxonomyNode,
                      content_hash, normalise_label, product_id_of, product_subject, type_subject)
from ..typenames import TypeSpellings

if TYPE_CHECKING:
    from ..store import Ledger

TAXONOMY = "taxonomy"  # provenance step of taxonomy enrichment: the type and hypernym stages' facts


class BuildInputs:
    """Read queries over the ledger for one build; the batch's products are read once (no
    stage changes a product), everything else as the graph stands at the call."""

    def __init__(self, ledger: Ledger, product_ids: Sequence[str], labelled: Sequence[Product],
                 synonym_candidates: int):
        self.ledger = ledger
        self.product_ids = list(product_ids)
        self.labelled = list(labelled)
        self.synonym_candidates = synonym_candidates  # most candidate pairs scored per attribute
        self._products: list[Product] | None = None

    def products(self) -> list[Product]:
        if self._products is None:
            self._products = [p for p in (self.ledger.product(i) for i in self.product_ids) if p is not None]
        return self._products

    def known_types(self) -> set[str]:
        """Types that need no placement: the catalogue's and the taxonomy's."""
        names = {normalise_label(t) for t in self.ledger.catalogue_types().values()}
        names |= {normalise_label(n.name) for n in self.ledger.taxonomy_nodes()}
        return names

    def graph_types(self) -> dict[str, list[str]]:
        """Product id -> its types, for every product in the store as the graph stands now: the
        catalogue's type, then those the type stage asserts (ingest's restate the catalogue),
        each under its one spelling (`TypeSpellings`: "face-masks" is read as "face mask").
        Three queries, however many products."""
        catalogue = self.ledger.catalogue_types()
        found = self.ledger.facts(predicate=PRODUCT_TYPE, step=TAXONOMY)
        spelling = TypeSpellings([*catalogue.values(), *(n.name for n in self.ledger.taxonomy_nodes())],
                                 [fact.object for fact in found])
        names = {i: [normalise_label(t)] for i, t in catalogue.items()}
        for fact in found:
            names.setdefault(product_id_of(fact.subject), []).append(spelling(fact.object))
        return {i: list(dict.fromkeys(types)) for i, types in names.items()}

    def attribute_facts(self, product_id: str) -> list[tuple[str, Fact]]:
        """(attribute, fact) for each value stated of a product, retracted ones aside. Those
        cleaning rejected count: a stage that read cleaning's verdicts would never settle."""
        facts = self.ledger.facts(subject=product_subject(product_id), status=None)
        return [(f.predicate[len(ATTRIBUTE_PREFIX):], f) for f in facts
                if f.predicate.startswith(ATTRIBUTE_PREFIX) and f.status != "retracted"]

    def batch_types(self) -> set[str]:
        types = self.graph_types()
        return {t for i in self.product_ids for t in types.get(i, [])}

    def applicable(self, type_name: str) -> list[str]:
        return sorted({f.object for f in self.ledger.facts(subject=type_subject(type_name), predicate=APPLICABLE)})

    def placement(self, type_name: str) -> list[TaxonomyNode]:
        """The taxonomy path of a type: under its placed parent, else the taxonomy node of its name."""
        parents = self.ledger.facts(subject=type_subject(type_name), predicate=BROADER)
        if parents:
            return self.ledger.taxonomy_path(parents[0].object)
        nodes = self.ledger.find_taxonomy_nodes(type_name)
        return self.ledger.taxonomy_path(nodes[0].id) if nodes else []

    def taxonomy_hash(self) -> str:
        return content_hash([n.model_dump() for n in self.ledger.taxonomy_nodes()])
