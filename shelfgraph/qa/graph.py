"""A read-only view of a fact ledger for answering questions: no question can ever write.

The ledger is opened read-only (`mode=ro` and `PRAGMA query_only`), so even a bug that
built a writing statement would fail instead of changing the graph.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

from ..models import ATTRIBUTE_PREFIX, PRODUCT_TYPE, Fact, Product, product_id_of, product_subject
from ..store import Ledger, product_id_sql

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

    def product_types(self) -> dict[str, int]:
        """Type name -> number of products (catalogue type or active `product_type` fact)."""
        rows = self.db.execute(
            "SELECT name, COUNT(DISTINCT id) FROM ("
            " SELECT id, product_type AS name FROM products WHERE product_type IS NOT NULL"
            f" UNION SELECT {product_id_sql('subject')}, object FROM facts WHERE predicate=? AND status='active')"
            " GROUP BY lower(name) ORDER BY 2 DESC",
            (PRODUCT_TYPE,),
        )
        return dict(rows.fetchall())

    def attribute_values(self) -> list[tuple[str, str, str, int]]:
        """(attribute, value, product type or "", products) for every active attribute fact."""
        rows = self.db.execute(
            "SELECT substr(f.predicate, ?), f.object, coalesce(p.product_type, ''), COUNT(DISTINCT f.subject)"
            f" FROM facts f LEFT JOIN products p ON p.id = {product_id_sql('f.subject')}"
            " WHERE f.predicate LIKE ? AND f.status='active' GROUP BY 1, 2, 3",
            (len(ATTRIBUTE_PREFIX) + 1, ATTRIBUTE_PREFIX + "%"),
        )
        return rows.fetchall()

    def title_words(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT title FROM products")]

    def ids_of_types(self, types: Iterable[str]) -> set[str]:
        return {i for name in types for i in self.ledger.product_ids_by_type(name)}

    def all_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM products")}

    def ids_with_title_word(self, word: str) -> set[str]:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.execute("SELECT id FROM products WHERE title LIKE ? ESCAPE '\\'", (pattern,))
        return {r[0] for r in rows}

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

    def ids_with_values(self, attributes: Iterable[str], values: Iterable[str]) -> set[str]:
        """Products with an active fact of any of these attributes whose value is one of
        `values` (case-insensitive): ids only, no facts built."""
        return {i for a in attributes for v in values for i in self.ledger.products_with_value(a, v)}

    def type_facts(self, ids: Iterable[str]) -> dict[str, Fact]:
        facts = self.ledger.facts_where([PRODUCT_TYPE], subjects=[product_subject(i) for i in ids])
        return {product_id_of(f.subject): f for f in facts}

    def of_types(self, types: Iterable[str], ids: Iterable[str]) -> set[str]:
        """Those of `ids` that are products of any of `types` (catalogue type or active
        `product_type` fact, case-insensitive), read per product: what `ids_of_types` finds
        among them, without listing every product of the types."""
        wanted = {t.lower() for t in types}
        ids = list(ids)
        found = {product_id_of(f.subject) for f in self.ledger.facts_where(
            [PRODUCT_TYPE], subjects=[product_subject(i) for i in ids]) if f.object.lower() in wanted}
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            rows = self.db.execute(f"SELECT id, product_type FROM products WHERE id IN ({','.join('?' * len(batch))})",
                                   batch)
            found.update(i for i, kind in rows if kind is not None and kind.lower() in wanted)
        return found

    def products(self, ids: Iterable[str]) -> dict[str, Product]:
        found: dict[str, Product] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            rows = self.db.execute(
                f"SELECT id, data FROM products WHERE id IN ({','.join('?' * len(batch))})", batch
            )
            found.update((r[0], Product.model_validate_json(r[1])) for r in rows)
        return found

    def gold_attribute_facts(self) -> dict[tuple[str, str, str], set[str]]:
        """(type, attribute, value) -> ids of products with that gold fact: what eval questions
        are generated from."""
        index: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        rows = self.db.execute(
            "SELECT p.product_type, substr(f.predicate, ?), f.object, p.id FROM facts f"
            f" JOIN products p ON p.id = {product_id_sql('f.subject')} WHERE f.predicate LIKE ? AND f.status='active'"
            " AND f.method='gold' AND p.product_type IS NOT NULL",
            (len(ATTRIBUTE_PREFIX) + 1, ATTRIBUTE_PREFIX + "%"),
        )
        for type_name, attribute, value, product_id in rows:
            index[(type_name, attribute, value)].add(product_id)
        return dict(index)
