"""A read-only view of a fact ledger for answering questions: no question can ever write.

The ledger is opened read-only (`mode=ro` and `PRAGMA query_only`), so even a bug that
built a writing statement would fail instead of changing the graph. The SQL is the Ledger's
(`store.py`, its "questions" methods); this view only shapes what it reads into facts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from ..models import ATTRIBUTE_PREFIX, PRODUCT_TYPE, Fact, Product, product_id_of, product_subject
from ..store import HasValue, Ledger

PER_PRODUCT = 2_000  # products whose facts are read one product at a time rather than by attribute


class GraphReader:
    """Products, types and attribute facts of a ledger, in the shapes the planner needs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.ledger = Ledger(self.path, read_only=True)
        self.db = self.ledger.db

    def __enter__(self) -> "GraphReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.ledger.close()

    def matching(self, types: Sequence[str] = (), having: Sequence[HasValue] = (),
                 title_words: Sequence[str] = ()) -> list[str]:
        """Ids, sorted, of the products of `types` meeting every condition (`Ledger.matching_products`)."""
        return self.ledger.matching_products(types, having, title_words)

    def ids_of_types(self, types: Iterable[str]) -> set[str]:
        return {i for name in types for i in self.ledger.product_ids_by_type(name)}

    def attribute_facts(self, attributes: Iterable[str], ids: Iterable[str] | None = None,
                        values: Iterable[str] | None = None) -> list[Fact]:
        """Active facts of these attributes (of these products when `ids` is given; with one
        of `values`, compared case-insensitively, when given). Up to PER_PRODUCT products,
        their facts are read product by product; beyond, those of the values or attributes."""
        predicates = [ATTRIBUTE_PREFIX + a for a in attributes]
        if not predicates:
            return []
        wanted = None if ids is None else set(ids)
        subjects = [product_subject(i) for i in wanted] if wanted is not None and len(wanted) <= PER_PRODUCT else None
        facts = self.ledger.facts_where(predicates, values=None if values is None else list(values), subjects=subjects)
        if wanted is None or subjects is not None:
            return facts
        return [f for f in facts if product_id_of(f.subject) in wanted]

    def type_facts(self, ids: Iterable[str]) -> dict[str, Fact]:
        facts = self.ledger.facts_where([PRODUCT_TYPE], subjects=[product_subject(i) for i in ids])
        return {product_id_of(f.subject): f for f in facts}

    def products(self, ids: Iterable[str]) -> dict[str, Product]:
        return self.ledger.products_by_id(ids)
