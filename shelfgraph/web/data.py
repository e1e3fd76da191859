"""Everything the pages read from the graph, in one module: one read-only connection, shaped
into page models. Keeping all reads here means switching them to another access layer is a
change to this file alone.

The connection is `Ledger(read_only=True)` (`mode=ro`, `query_only`): viewing and asking can
never write. One lock serialises its use, since the web server calls from worker threads.
What reads every fact (the overview's counts, the review queue's order) runs on a second
read-only connection, so pages stay quick meanwhile, and is kept until another connection
commits (`PRAGMA data_version`): a big store pays for it once per change, not once per view.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from pydantic import BaseModel, Field

from ..models import (ATTRIBUTE_PREFIX, BROADER, PRODUCT_TYPE, SAME_AS, TYPE_PREFIX, Fact, Product, Run,
                      TaxonomyNode, attribute_predicate, key_of_id, node_label, normalise_label, product_subject,
                      value_subject)
from ..review import ReviewItem, Why, queue_items, queue_order
from ..store import Ledger
from .evidence import Evidence, evidence_of

if TYPE_CHECKING:
    from ..qa import Answer, Session

T = TypeVar("T")
PAGE_SIZE = 50


class Page(BaseModel, Generic[T]):
    """One page of a longer list: `more` says whether another page follows."""

    items: list[T]
    number: int = 1
    size: int = PAGE_SIZE
    more: bool = False


class FactView(BaseModel):
    """A fact as a page shows it: its id, evidence span and status history."""

    id: str
    fact: Fact
    evidence: Evidence | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)


class ProductView(BaseModel):
    product: Product
    facts: Page[FactView]
    types: list[str]  # the catalogue's type and any found by a build


class RunGrowth(BaseModel):
    """Facts a build run added (by the run in their provenance) and the total after it."""

    run: Run
    added: int
    total: int


class Overview(BaseModel):
    stats: dict[str, Any]
    by_step: dict[str, dict[str, int]]  # step -> status -> facts
    growth: list[RunGrowth]


class ProductRow(BaseModel):
    id: str
    title: str
    product_type: str | None = None


class PlacedType(BaseModel):
    """A product type a build added to the taxonomy, under `parent` (a taxonomy node id)."""

    name: str
    parent: str
    path: list[TaxonomyNode]  # root first, the parent last
    fact: FactView


class TaxonomyView(BaseModel):
    node: TaxonomyNode | None  # None: the roots
    path: list[TaxonomyNode]
    children: Page[TaxonomyNode]
    child_counts: dict[str, int]
    placed_here: list[PlacedType]
    placed_below: dict[str, int]  # child id -> types placed anywhere under it


class ValueCount(BaseModel):
    value: str
    products: int
    synonyms: list[str] = Field(default_factory=list)  # values merged into this one


class AttributeView(BaseModel):
    name: str
    values: Page[ValueCount]
    merged: dict[str, str]  # value -> the canonical value it was merged into


class ReviewRow(BaseModel):
    item: ReviewItem
    evidence: Evidence | None


class GraphData:
    """Read access to the graph at `store` for the web pages. `session` makes a question
    session (read-only too); it is made on the first question and kept."""

    def __init__(self, store: Path, session: Callable[[], "Session"]):
        self.store = Path(store)
        self.ledger = Ledger(self.store, read_only=True)
        self.db = self.ledger.db
        self._make_session = session
        self._session: Session | None = None
        self._scans = Ledger(self.store, read_only=True)  # for what reads every fact
        self._lock = threading.RLock()
        self._scans_lock = threading.RLock()
        self._ask_lock = threading.RLock()
        self._overview: tuple[int, Overview] | None = None
        self._queue: tuple[int, list[tuple[int, Why]]] | None = None
        self._closed = False

    def close(self) -> None:
        """Close the connections. One the start-up preparation is still reading (minutes on a
        big store) is left to the end of the process, so stopping the server never waits for it."""
        self._closed = True
        if self._ask_lock.acquire(blocking=False):
            if self._session is not None:
                self._session.close()
            self._ask_lock.release()
        if self._scans_lock.acquire(blocking=False):
            self._scans.close()
            self._scans_lock.release()
        with self._lock:
            self.ledger.close()

    # overview ------------------------------------------------------------------------------
    def overview(self) -> Overview:
        with self._scans_lock:
            version = self._version()
            if self._overview is None or self._overview[0] != version:
                self._overview = (version, self._count_all(self._scans))
            return self._overview[1]

    def _version(self) -> int:
        """Changes whenever another connection commits to the store (what the caches key on)."""
        return self._scans.db.execute("PRAGMA data_version").fetchone()[0]

    @staticmethod
    def _count_all(ledger: Ledger) -> Overview:
        by_step: dict[str, dict[str, int]] = defaultdict(dict)
        per_run: dict[str, int] = defaultdict(int)
        rows = ledger.db.execute("SELECT v.step, f.status, v.run_id, COUNT(*) FROM fact_rows f "
                               "JOIN provenance v ON v.id = f.provenance GROUP BY 1, 2, 3")
        for step, status, run_id, n in rows:
            by_step[step][status] = by_step[step].get(status, 0) + n
            per_run[run_id] += n
        runs = sorted(ledger.runs(limit=1_000_000), key=lambda r: r.started_at)
        growth, total = [], 0
        for run in runs:
            total += per_run.get(run.id, 0)
            growth.append(RunGrowth(run=run, added=per_run.get(run.id, 0), total=total))
        return Overview(stats=ledger.stats(), by_step=dict(by_step), growth=growth)

    def run(self, run_id: str) -> RunGrowth | None:
        return next((item for item in self.overview().growth if item.run.id == run_id), None)

    # products ------------------------------------------------------------------------------
    def product(self, product_id: str, page: int = 1, size: int = 200) -> ProductView | None:
        with self._lock:
            product = self.ledger.product(product_id)
            if product is None:
                return None
            facts = self.ledger.facts(subject=product_subject(product_id), status=None)
            shown = facts[(page - 1) * size: page * size]
            views = [self._fact_view(f, product) for f in shown]
            types: dict[str, str] = {}  # one entry per type however it is written
            for name in [product.product_type or "", *(f.object for f in facts
                                                        if f.predicate == PRODUCT_TYPE and f.status == "active")]:
                if name:
                    types.setdefault(normalise_label(name), name)
            return ProductView(product=product, types=list(types.values()),
                               facts=Page(items=views, number=page, size=size, more=len(facts) > page * size))

    def fact_subject(self, fact_id: str) -> str | None:
        """The subject of the fact with this id, or None when there is none."""
        try:
            key = key_of_id(fact_id)
        except ValueError:
            return None
        with self._lock:
            row = self.db.execute("SELECT t.text FROM fact_rows f JOIN terms t ON t.id = f.subject WHERE f.key = ?",
                                  (key,)).fetchone()
        return row[0] if row else None

    def _fact_view(self, fact: Fact, product: Product | None) -> FactView:
        return FactView(id=fact.id, fact=fact, evidence=evidence_of(product, fact.provenance),
                        history=self.ledger.fact_history(fact.id))

    def search(self, text: str = "", page: int = 1, size: int = PAGE_SIZE) -> Page[ProductRow]:
        """Products whose id is `text` or whose title contains it (case-insensitive), catalogue order."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._lock:
            rows = self.db.execute(
                "SELECT id, title, product_type FROM products WHERE ? = '' OR id = ? OR title LIKE ? ESCAPE '\\' "
                "ORDER BY rowid LIMIT ? OFFSET ?", (text, text, pattern, size + 1, (page - 1) * size)).fetchall()
        items = [ProductRow(id=r[0], title=r[1], product_type=r[2]) for r in rows[:size]]
        return Page(items=items, number=page, size=size, more=len(rows) > size)

    def products_by_id(self, ids: list[str]) -> list[ProductRow]:
        with self._lock:
            found = {p.id: p for p in (self.ledger.product(i) for i in ids) if p is not None}
        return [ProductRow(id=i, title=found[i].title, product_type=found[i].product_type) for i in ids if i in found]

    # taxonomy ------------------------------------------------------------------------------
    def taxonomy(self, node_id: str | None, page: int = 1, size: int = 200) -> TaxonomyView | None:
        with self._lock:
            node = self.ledger.taxonomy_node(node_id) if node_id else None
            if node_id and node is None:
                return None
            if node is None:
                sql = ("SELECT id, name, parent, attributes FROM taxonomy WHERE parent IS NULL "
                       "OR parent NOT IN (SELECT id FROM taxonomy)")
                args: tuple = ()
            else:
                sql, args = "SELECT id, name, parent, attributes FROM taxonomy WHERE parent = ?", (node.id,)
            children = [TaxonomyNode(id=r[0], name=r[1], parent=r[2], attributes=json.loads(r[3])) for r in
                        self.db.execute(f"{sql} ORDER BY name LIMIT ? OFFSET ?", (*args, size + 1, (page - 1) * size))]
            counts = dict(self.db.execute(
                f"SELECT parent, COUNT(*) FROM taxonomy WHERE parent IN ({','.join('?' * len(children))}) "
                "GROUP BY parent", [c.id for c in children]))
            placed = self.placed_types()
            below: dict[str, int] = defaultdict(int)
            shown = {c.id for c in children[:size]}
            for item in placed:
                for ancestor in item.path:
                    if ancestor.id in shown:
                        below[ancestor.id] += 1
            return TaxonomyView(
                node=node, path=self.ledger.taxonomy_path(node.id) if node else [],
                children=Page(items=children[:size], number=page, size=size, more=len(children) > size),
                child_counts=counts, placed_here=[p for p in placed if node and p.parent == node.id],
                placed_below=dict(below))

    def placed_types(self) -> list[PlacedType]:
        """Every type a build placed under a taxonomy node (active `broader` facts), by name."""
        with self._lock:
            placed = []
            for fact in self.ledger.facts(predicate=BROADER):
                placed.append(PlacedType(name=fact.subject.removeprefix(TYPE_PREFIX), parent=fact.object,
                                         path=self.ledger.taxonomy_path(fact.object),
                                         fact=self._fact_view(fact, None)))
            return sorted(placed, key=lambda p: p.name)

    # attributes ----------------------------------------------------------------------------
    def attributes(self) -> dict[str, int]:
        """Attribute name -> active facts."""
        by_predicate = self.overview().stats["facts"]["by_predicate"]
        return {p[len(ATTRIBUTE_PREFIX):]: n for p, n in by_predicate.items() if p.startswith(ATTRIBUTE_PREFIX)}

    def attribute(self, name: str, page: int = 1, size: int = PAGE_SIZE) -> AttributeView:
        """The attribute's values by how many products have them; values a synonym fact merged
        into another are listed under it."""
        with self._lock:
            rows = self.db.execute(
                "SELECT o.text, COUNT(DISTINCT f.subject) FROM fact_rows f JOIN terms o ON o.id = f.object "
                "WHERE f.predicate = (SELECT id FROM terms WHERE text = ?) AND f.status = 'active' "
                "GROUP BY f.object ORDER BY 2 DESC, 1 LIMIT ? OFFSET ?",
                (attribute_predicate(name), size + 1, (page - 1) * size)).fetchall()
            merged = self._merged_values(name)
        synonyms: dict[str, list[str]] = defaultdict(list)
        for value, canonical in merged.items():
            synonyms[canonical].append(value)
        items = [ValueCount(value=v, products=n, synonyms=sorted(synonyms.get(v, []))) for v, n in rows[:size]]
        return AttributeView(name=name, values=Page(items=items, number=page, size=size, more=len(rows) > size),
                             merged=merged)

    def _merged_values(self, name: str) -> dict[str, str]:
        prefix = value_subject(name, "")
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.execute("SELECT subject, object FROM facts WHERE predicate = ? AND status = 'active' "
                               "AND subject LIKE ? ESCAPE '\\'", (SAME_AS, pattern))
        return {node_label(s): node_label(o) for s, o in rows}

    def products_with_value(self, name: str, value: str, page: int = 1, size: int = PAGE_SIZE) -> Page[ProductRow]:
        with self._lock:
            ids = self.ledger.products_with_value(name, value)
        shown = ids[(page - 1) * size: page * size]
        return Page(items=self.products_by_id(shown), number=page, size=size, more=len(ids) > page * size)

    # review --------------------------------------------------------------------------------
    def review_queue(self, page: int = 1, size: int = PAGE_SIZE) -> Page[ReviewRow]:
        """A page of the review queue. The queue's order is one pass over the attribute facts,
        kept until the store changes (a decision changes it)."""
        with self._scans_lock:
            version = self._version()
            if self._queue is None or self._queue[0] != version:
                self._queue = (version, queue_order(self._scans))
            order = self._queue[1]
        with self._lock:
            items = queue_items(self.ledger, order[(page - 1) * size: page * size])
        rows = [ReviewRow(item=i, evidence=evidence_of(i.product, i.fact.provenance)) for i in items]
        return Page(items=rows, number=page, size=size, more=len(order) > page * size)

    # questions -----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Make the question session and the overview's counts if not made yet: both read
        every fact (minutes at a million facts, docs/benchmarks.md), so the server does it as it
        starts, not at the first question or visit."""
        with self._ask_lock:
            if not self._closed:
                self._questions()
        with self._scans_lock:
            if not self._closed:
                self.overview()

    def _questions(self) -> "Session":
        with self._ask_lock:
            if self._session is None:
                self._session = self._make_session()
            return self._session

    def ask(self, question: str, limit: int | None = None, offset: int = 0) -> "Answer":
        """One question on its own (no conversation between visitors): the session's history
        is cleared after each answer. The session has its own connection and lock, so a slow
        question (a model loading) holds up other questions, not the pages."""
        with self._ask_lock:
            session = self._questions()
            try:
                return session.ask(question, limit, offset)
            finally:
                session.reset()
