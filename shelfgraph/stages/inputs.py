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

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from ..models import (APPLICABLE, ATTRIBUTE_PREFIX, BROADER, PRODUCT_TYPE, Fact, Product, TaxonomyNode,
                      content_hash, normalise_label, product_id_of, product_subject, type_subject)
from ..typenames import TypeSpellings

if TYPE_CHECKING:
    from ..store import Ledger

TAXONOMY = "taxonomy"  # provenance step of taxonomy enrichment: the type and hypernym stages' facts


class BuildInputs:
    """Read queries over the ledger for one build, as the graph stands at the call (each stage
    reads what the ones before it wrote). Products are read a chunk at a time and the queries
    about them are asked for the whole chunk: memory and query count do not grow with the
    catalogue."""

    def __init__(self, ledger: Ledger, product_ids: Sequence[str], labelled: Sequence[Product],
                 synonym_candidates: int, chunk_size: int = 500, relation_products: int = 1000):
        self.ledger = ledger
        self.product_ids = list(product_ids)
        self.labelled = list(labelled)
        self.synonym_candidates = synonym_candidates  # most candidate pairs scored per attribute
        self.chunk_size = chunk_size  # products read, and asked about, at a time
        self.relation_products = relation_products  # most stored products a relation unit reads
        self._spelling: tuple[tuple[list[str], dict[str, int]], TypeSpellings] | None = None

    def product_chunks(self) -> Iterator[list[Product]]:
        """The batch's products in order, `chunk_size` at a time (ids not stored are left out)."""
        for start in range(0, len(self.product_ids), self.chunk_size):
            ids = self.product_ids[start:start + self.chunk_size]
            found = self.ledger.products_by_id(ids)
            yield [found[i] for i in ids if i in found]

    def known_types(self) -> set[str]:
        """Types that need no placement: the catalogue's and the taxonomy's."""
        names = {normalise_label(t) for t in self.ledger.catalogue_type_names()}
        names |= {normalise_label(n.name) for n in self.ledger.taxonomy_nodes()}
        return names - {""}

    def _stated_types(self) -> tuple[list[str], dict[str, int]]:
        """The catalogue's type names, and the type stage's phrases with how often each is stated."""
        return self.ledger.catalogue_type_names(), self.ledger.type_phrases(TAXONOMY)

    def spelling(self, stated: tuple[list[str], dict[str, int]] | None = None) -> TypeSpellings:
        """How the graph spells each type (`TypeSpellings`: "face-masks" is read as "face
        mask"): the catalogue's and the taxonomy's names first, then the type stage's phrases by
        how often they are stated. Made again only when those phrases changed."""
        catalogue, phrases = stated or self._stated_types()
        if self._spelling is None or self._spelling[0] != (catalogue, phrases):
            known = [*catalogue, *(n.name for n in self.ledger.taxonomy_nodes())]
            spelling = TypeSpellings(known, phrases)
            self._spelling = ((catalogue, phrases), spelling)
        return self._spelling[1]

    def type_names(self) -> set[str]:
        """Every type of the graph, each under its one spelling: the catalogue's, and those the
        type stage asserts."""
        catalogue, phrases = stated = self._stated_types()
        spelling = self.spelling(stated)
        names = {spelling(t) for t in [*catalogue, *phrases]}
        return names - {""}  # "": no type

    def types_of(self, products: Sequence[Product], spelling: TypeSpellings | None = None) -> dict[str, list[str]]:
        """Product id -> its types, each under its one spelling: the catalogue's type, then
        those the type stage asserts (ingest's restate the catalogue). One query for the chunk.
        A pass over many chunks passes `spelling`, read once for the pass: reading it is a
        grouped read of every type fact, and per chunk that is quadratic in the catalogue."""
        return self.types_of_ids({p.id: p.product_type for p in products}, spelling)

    def types_of_ids(self, catalogue: Mapping[str, str | None],
                     spelling: TypeSpellings | None = None) -> dict[str, list[str]]:
        """`types_of` from product id -> catalogue type (`Ledger.catalogue_types`), for passes
        that need no more of a product than that."""
        spelling = self.spelling() if spelling is None else spelling
        names = {i: [spelling(t)] if t else [] for i, t in catalogue.items()}
        subjects = [product_subject(i) for i in catalogue]
        for fact in self.ledger.facts(subject=subjects, predicate=PRODUCT_TYPE, step=TAXONOMY) if subjects else ():
            names[product_id_of(fact.subject)].append(spelling(fact.object))
        return {i: list(dict.fromkeys(types)) for i, types in names.items()}

    def attribute_facts(self, products: Sequence[Product]) -> dict[str, list[tuple[str, Fact]]]:
        """Product id -> (attribute, fact) for each value stated of it, retracted ones aside;
        one query for the whole chunk. Those cleaning rejected count: a stage that read
        cleaning's verdicts would never settle."""
        found: dict[str, list[tuple[str, Fact]]] = {p.id: [] for p in products}
        subjects = [product_subject(p.id) for p in products]
        for fact in self.ledger.facts(subject=subjects, status=None) if subjects else ():
            if fact.predicate.startswith(ATTRIBUTE_PREFIX) and fact.status != "retracted":
                found[product_id_of(fact.subject)].append((fact.predicate[len(ATTRIBUTE_PREFIX):], fact))
        return found

    def batch_types(self) -> set[str]:
        spelling, found = self.spelling(), set()
        for start in range(0, len(self.product_ids), self.chunk_size):
            catalogue = self.ledger.catalogue_types(self.product_ids[start:start + self.chunk_size])
            found.update(t for types in self.types_of_ids(catalogue, spelling).values() for t in types)
        return found

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
