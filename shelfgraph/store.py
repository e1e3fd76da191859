"""The fact ledger: products, taxonomy and facts with provenance, in one SQLite file (WAL).

Facts are never deleted: a step marks them (`rejected` by cleaning, `retracted` when the
input they came from changed) and every status change is kept in `fact_events`, so the
history of the graph stays auditable. Writes go in batches inside one transaction.
Facts are dictionary-encoded (`fact_rows` holds ids of interned terms and provenance); the
view `facts` reads them back as text, for queries and for people.
"""

from __future__ import annotations

import json
import sqlite3
import string
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import IO, Any, NamedTuple

from . import writelock
from .errors import StoreError
from .interning import InternTable
from .migrations import migrate, pending, unknown
from .models import (ATTRIBUTE_PREFIX, PRODUCT_PREFIX, PRODUCT_TYPE, RESERVED_PREFIXES, Fact, FactStatus, Product,
                     Provenance, Run, TaxonomyNode, attribute_predicate, id_of_key, key_of_id)


def product_id_sql(subject: str) -> str:
    """`models.product_id_of` as an SQL expression over the column `subject`, for queries that
    join the subjects of product facts to the products table."""
    n = len(PRODUCT_PREFIX)
    return (f"CASE WHEN substr({subject}, 1, {n}) = '{PRODUCT_PREFIX}' THEN substr({subject}, {n + 1}) "
            f"ELSE {subject} END")


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _nocase(text: str) -> str:
    """`text` as SQLite's NOCASE collation compares it (ASCII letters folded, nothing else)."""
    return text.translate(_ASCII_LOWER)


def product_subject_sql(product_id: str) -> str:
    """`models.product_subject` as an SQL expression over the column `product_id`. Every reserved
    prefix holds a colon, so an id without one is its own subject after a single `instr` (the
    prefixes compared for each of a type's 5,000 products took 3 ms of a broad answer)."""
    reserved = " OR ".join(f"substr({product_id}, 1, {len(p)}) = '{p}'" for p in RESERVED_PREFIXES)
    return (f"CASE WHEN instr({product_id}, ':') = 0 THEN {product_id} "
            f"WHEN {reserved} THEN '{PRODUCT_PREFIX}' || {product_id} ELSE {product_id} END")


class HasValue(NamedTuple):
    """A condition on a product: an active fact of any of `attributes` whose value is one of
    `values` (case-insensitive); with `negate`, no such fact."""

    attributes: Sequence[str]
    values: Sequence[str]
    negate: bool = False


# Columns of the `facts` view that make a Fact (the table `fact_rows` holds interned ids).
_FACT_COLUMNS = (
    "subject, predicate, object, confidence, status, step, method, model, prompt, "
    'source_field, start, "end", run_id'
)
_FACT_ROW_COLUMNS = 'key, subject, predicate, object, confidence, status, provenance, start, "end", created_at'
# Products of active facts `predicate = value`, the value matched case-insensitively; the
# value's term ids are looked up first so the (predicate, object) index is used.
_SUBJECTS_WITH_VALUE = (
    f"SELECT DISTINCT {product_id_sql('s.text')} FROM fact_rows f JOIN terms s ON s.id = f.subject "
    "WHERE f.predicate = (SELECT id FROM terms WHERE text = ?) "
    "AND f.object IN (SELECT id FROM terms WHERE text = ? COLLATE NOCASE) AND f.status = 'active'"
)
_PROVENANCE_COLUMNS = ("step", "method", "model", "prompt", "source_field", "run_id")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


REVIEW_COMMAND = "review"  # the command of review runs: their fact events are people's decisions
_DECISIONS_OF_FACT = ("SELECT 1 FROM fact_events e JOIN runs r ON r.id = e.run_id "
                      f"WHERE e.fact_id = ? AND r.command = '{REVIEW_COMMAND}'")


class Ledger:
    """A SQLite fact ledger. Open with `Ledger(path)`; use as a context manager."""

    def __init__(self, path: str | Path, read_only: bool = False, exclusive: bool = False):
        """`read_only` opens an existing ledger with `mode=ro` and `query_only`, so not even a
        bug can write through this connection (questions and the read commands use it); it
        works in a read-only folder too. `exclusive` holds the store's writer lock while open
        (`build` and `ingest`: one writing process at a time, see writelock.py).

        Opening for writing refuses, before writing anything, a file that is not an intact
        SQLite database (`PRAGMA quick_check`) and a schema written by a newer shelfgraph."""
        self.path = Path(path)
        self._lock: IO[str] | None = None
        if read_only:
            self.db = _connect_read_only(self.path)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if exclusive:
                self._lock = writelock.acquire(self.path)
            try:
                self.db = _connect_for_writing(self.path)
            except BaseException:
                self._release()
                raise
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages stay hot in big batches
        self._depth = 0
        self._type_names: tuple[tuple[int, int], list[str]] | None = None  # see _catalogue_type_names
        self._terms = InternTable(self.db, "terms", ("text",))
        self._provenance = InternTable(self.db, "provenance", _PROVENANCE_COLUMNS)
        if self._lock is not None:
            self._fail_abandoned_runs()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops its flock
            self._lock = None

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction; nested calls become savepoints."""
        name = f"sp{self._depth}"
        self.db.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self._terms.forget()  # ids interned inside the undone transaction are gone
            self._provenance.forget()
            self.db.execute("ROLLBACK" if self._depth == 0 else f"ROLLBACK TO {name}")
            raise
        self._depth -= 1
        self.db.execute("COMMIT" if self._depth == 0 else f"RELEASE {name}")

    # runs -------------------------------------------------------------------------------
    def start_run(self, command: str, config: dict[str, Any] | None = None) -> Run:
        run = Run(id=new_run_id(), command=command, config=config or {}, started_at=time.time())
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, NULL, 'running', '{}')",
            (run.id, run.command, json.dumps(run.config, default=str), run.started_at),
        )
        return run

    @contextmanager
    def recorded_run(self, command: str, config: dict[str, Any] | None = None) -> Iterator[Run]:
        """A run around a block: finished with the `run.summary` filled inside it, or, if the
        block raises anything (Ctrl-C too), marked failed with the error: never left `running`."""
        run = self.start_run(command, config)
        try:
            yield run
        except BaseException as err:
            self.finish_run(run, {**run.summary, "error": repr(err)}, status="failed")
            raise
        self.finish_run(run, run.summary)

    def _fail_abandoned_runs(self) -> None:
        """Runs still `running` when the writer lock is free belong to a process that died
        without finishing them (killed, power cut): they are marked failed."""
        self.db.execute("UPDATE runs SET status='failed', finished_at=?, summary=? WHERE status='running'",
                        (time.time(), json.dumps({"error": "abandoned: its process ended before finishing it"})))

    def finish_run(self, run: Run, summary: dict[str, Any], status: str = "finished") -> Run:
        run = run.model_copy(update={"finished_at": time.time(), "status": status, "summary": summary})
        self.db.execute(
            "UPDATE runs SET finished_at=?, status=?, summary=? WHERE id=?",
            (run.finished_at, status, json.dumps(summary, default=str), run.id),
        )
        return run

    def runs(self, limit: int = 20) -> list[Run]:
        rows = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
        return [_run_from_row(r) for r in rows]

    def run(self, run_id: str) -> Run | None:
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
        return _run_from_row(row) if row else None

    # products ---------------------------------------------------------------------------
    def upsert_products(self, products: Iterable[Product], run_id: str) -> list[str]:
        """Insert or update products; returns the ids of those new or changed."""
        changed = []
        with self.atomic():
            for product in products:
                digest = product.content_hash()
                row = self.db.execute(
                    "SELECT content_hash FROM products WHERE id=?", (product.id,)
                ).fetchone()
                if row and row[0] == digest:
                    continue
                changed.append(product.id)
                self.db.execute(
                    "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                    "title=excluded.title, product_type=excluded.product_type, "
                    "content_hash=excluded.content_hash, data=excluded.data, "
                    "source=excluded.source, run_id=excluded.run_id",
                    (product.id, product.title, product.product_type, digest,
                     product.model_dump_json(), product.source, run_id),
                )
        return changed

    def product(self, product_id: str) -> Product | None:
        row = self.db.execute("SELECT data FROM products WHERE id=?", (product_id,)).fetchone()
        return Product.model_validate_json(row[0]) if row else None

    def products(self, product_type: str | None = None, limit: int | None = None,
                 page: int = 1000) -> Iterator[Product]:
        """In the order they were stored, read `page` rows at a time: a million products are
        never in memory at once, and the caller may write between two of them."""
        where, args = ("WHERE rowid > ?", []) if product_type is None else \
            ("WHERE rowid > ? AND product_type = ? COLLATE NOCASE", [product_type])
        after, left = 0, limit
        while left is None or left > 0:
            size = page if left is None else min(page, left)
            rows = self.db.execute(f"SELECT rowid, data FROM products {where} ORDER BY rowid LIMIT ?",
                                   [after, *args, size]).fetchall()
            for _, data in rows:
                yield Product.model_validate_json(data)
            if len(rows) < size:
                return
            after, left = rows[-1][0], None if left is None else left - len(rows)

    def products_with_value(self, attribute: str, value: str) -> list[str]:
        """Ids of products with an active fact `attribute = value` (case-insensitive)."""
        rows = self.db.execute(f"{_SUBJECTS_WITH_VALUE} ORDER BY 1", (attribute_predicate(attribute), value))
        return [r[0] for r in rows]

    def product_ids_by_type(self, type_name: str) -> list[str]:
        """Ids of products of a type: given in the catalogue or asserted by an active fact."""
        rows = self.db.execute(
            f"SELECT id FROM products WHERE product_type=? COLLATE NOCASE UNION {_SUBJECTS_WITH_VALUE} ORDER BY 1",
            (type_name, PRODUCT_TYPE, type_name),
        )
        return [r[0] for r in rows]

    # taxonomy ---------------------------------------------------------------------------
    def upsert_taxonomy(self, nodes: Iterable[TaxonomyNode], source: str) -> int:
        count = 0
        with self.atomic():
            for node in nodes:
                self.db.execute(
                    "INSERT OR REPLACE INTO taxonomy VALUES (?, ?, ?, ?, ?)",
                    (node.id, node.name, node.parent, json.dumps(node.attributes), source),
                )
                count += 1
        return count

    def _nodes(self, sql: str, args: Sequence[Any] = ()) -> list[TaxonomyNode]:
        """Taxonomy nodes from a query selecting id, name, parent, attributes."""
        return [TaxonomyNode(id=r[0], name=r[1], parent=r[2], attributes=json.loads(r[3]))
                for r in self.db.execute(sql, args)]

    def taxonomy_nodes(self) -> list[TaxonomyNode]:
        return self._nodes("SELECT id, name, parent, attributes FROM taxonomy ORDER BY rowid")

    def taxonomy_node(self, node_id: str) -> TaxonomyNode | None:
        nodes = self._nodes("SELECT id, name, parent, attributes FROM taxonomy WHERE id=?", (node_id,))
        return nodes[0] if nodes else None

    def taxonomy_path(self, node_id: str) -> list[TaxonomyNode]:
        """The node and its ancestors, root first."""
        return self._nodes(_taxonomy_walk("t.id = walk.parent", "depth DESC"), (node_id,))

    def taxonomy_subtree(self, node_id: str) -> list[TaxonomyNode]:
        """The node and all its descendants, breadth first."""
        return self._nodes(_taxonomy_walk("t.parent = walk.id", "depth, id"), (node_id,))

    def find_taxonomy_nodes(self, name: str) -> list[TaxonomyNode]:
        return self._nodes("SELECT id, name, parent, attributes FROM taxonomy WHERE name=? COLLATE NOCASE",
                           (name,))

    # facts ------------------------------------------------------------------------------
    def add_facts(self, facts: Iterable[Fact]) -> int:
        """Store facts in one transaction; returns how many were new. A fact already stored
        (same id, or earlier in `facts`) is left as it is, unless it was retracted: then it
        becomes active again."""
        by_key: dict[bytes, Fact] = {}
        for fact in facts:
            by_key.setdefault(fact.key, fact)
        sources = [(p.step, p.method, p.model, p.prompt, p.source_field, p.run_id)
                   for p in (fact.provenance for fact in by_key.values())]
        now = time.time()
        with self.atomic():
            term = self._terms.ids(text for f in by_key.values() for text in (f.subject, f.predicate, f.object))
            source = self._provenance.ids(sources)
            rows = [(key, term[f.subject], term[f.predicate], term[f.object], f.confidence, f.status,
                     source[s], f.provenance.start, f.provenance.end, now)
                    for (key, f), s in zip(by_key.items(), sources)]
            before = self.db.total_changes
            self.db.executemany(
                f"INSERT OR IGNORE INTO fact_rows ({_FACT_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            new = self.db.total_changes - before
            if new < len(rows):  # some were stored before: those retracted come back
                self._reactivate({key: f.provenance.run_id for key, f in by_key.items()}, now)
        return new

    def _reactivate(self, run_of: dict[bytes, str], now: float) -> None:
        keys = list(run_of)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            retracted = [r[0] for r in self.db.execute(
                f"SELECT key FROM fact_rows WHERE status='retracted' AND key IN ({marks})", chunk)]
            for key in retracted:
                self.db.execute("UPDATE fact_rows SET status='active', status_run_id=? WHERE key=?",
                                (run_of[key], key))
                self.db.execute("INSERT INTO fact_events VALUES (?, 'active', ?, 'asserted again', ?)",
                                (id_of_key(key), run_of[key], now))

    def merge_fact_columns(self, table: Any) -> int:
        """Store facts given as an Arrow table of `shards.FACT_COLUMNS` (keys already hashed: a
        Ray worker's shard) in one transaction; returns how many were new. The ledger ends as
        `add_facts` of the same facts leaves it (same ids; first copy of a repeated key kept;
        a retracted fact asserted again is active again), but nothing is done per fact in
        Python beyond binding its row: terms and provenance are interned once per distinct
        value (Arrow's dictionary encoding) and mapped back to rows as arrays."""
        import numpy as np

        count = table.num_rows
        if not count:
            return 0
        now = time.time()
        with self.atomic():
            encoded = {name: _dictionary(table.column(name)) for name in ("subject", "predicate", "object")}
            term = self._terms.ids(text for values, _ in encoded.values() for text in values)
            ids = {name: np.array([term[text] for text in values], dtype=np.int64)[codes].tolist()
                   for name, (values, codes) in encoded.items()}
            sources, inverse = _distinct_rows(table, _PROVENANCE_COLUMNS)
            source = self._provenance.ids(sources)
            provenance = np.array([source[s] for s in sources], dtype=np.int64)[inverse].tolist()
            keys = table.column("key").to_pylist()
            rows = zip(keys, ids["subject"], ids["predicate"], ids["object"], table.column("confidence").to_pylist(),
                       table.column("status").to_pylist(), provenance, table.column("start").to_pylist(),
                       table.column("end").to_pylist(), repeat(now))
            before = self.db.total_changes
            self.db.executemany(
                f"INSERT OR IGNORE INTO fact_rows ({_FACT_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            new = self.db.total_changes - before
            if new < count:  # some were stored before: those retracted come back
                run_of: dict[bytes, str] = {}
                for key, run_id in zip(keys, table.column("run_id").to_pylist()):
                    run_of.setdefault(key, run_id)
                self._reactivate(run_of, now)
        return new

    # bulk loading ---------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """No product and no fact yet: a new ledger, or one holding only a taxonomy."""
        return not self.db.execute("SELECT EXISTS (SELECT 1 FROM products) OR EXISTS (SELECT 1 FROM fact_rows)"
                                   ).fetchone()[0]

    def stored_products(self, product_ids: Sequence[str]) -> set[str]:
        """Which of these products the ledger holds already."""
        found: set[str] = set()
        for start in range(0, len(product_ids), 500):
            chunk = product_ids[start:start + 500]
            found.update(r[0] for r in self.db.execute(
                f"SELECT id FROM products WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return found

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A first load into a ledger with no facts, as one transaction, with the fact indexes
        dropped while it runs and built once at the end: sorting a million keys once costs far
        less than keeping three B-trees up to date row by row (docs/benchmarks.md).

        Inside it, facts are stored as in `add_facts` (a repeat within one call is one fact),
        but nothing may look facts up (no index) and a fact repeated by two calls is caught only
        at the end: its first copy is kept, and its second was counted as new by its call.
        `ingest` cannot repeat one, since each product's facts come in one call. A failure
        anywhere undoes the whole load, indexes included: the ledger is as it was."""
        if self.db.execute("SELECT EXISTS (SELECT 1 FROM fact_rows)").fetchone()[0]:
            raise StoreError(f"{self.path} holds facts already: a bulk load is only for an empty ledger")
        indexes = self.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = "
                                  "'fact_rows' AND sql IS NOT NULL ORDER BY sql NOT LIKE 'CREATE UNIQUE%'"
                                  ).fetchall()
        with self.atomic():
            for name, _ in indexes:
                self.db.execute(f"DROP INDEX {name}")
            yield
            for _, sql in indexes:
                try:
                    self.db.execute(sql)
                except sqlite3.IntegrityError:  # two calls stored one fact: keep its first copy
                    self.db.execute("DELETE FROM fact_rows WHERE rowid NOT IN "
                                    "(SELECT min(rowid) FROM fact_rows GROUP BY key)")
                    self.db.execute(sql)

    def set_status(
        self, fact_ids: Sequence[str], status: FactStatus, run_id: str, reason: str | None = None,
        only_from: FactStatus | None = None,
    ) -> int:
        """Mark facts (never delete them); the change is kept in `fact_events`. With
        `only_from`, only facts now in that status change (un-rejecting must not revive a
        retracted fact). A person's decision (`decide`) stands: the steps may retract such a
        fact when its input is gone, but never flag or un-flag it again."""
        if not fact_ids:  # the build asks for every unit it commits, mostly with none
            return 0
        now = time.time()
        changed = 0
        condition = "status != ?" if only_from is None else "status = ?"
        if status != "retracted":
            condition += f" AND NOT EXISTS ({_DECISIONS_OF_FACT})"
        with self.atomic():
            for fact_id in fact_ids:
                decided = (fact_id,) if status != "retracted" else ()
                cursor = self.db.execute(
                    f"UPDATE fact_rows SET status=?, status_run_id=? WHERE key=? AND {condition}",
                    (status, run_id, key_of_id(fact_id), status if only_from is None else only_from, *decided),
                )
                if cursor.rowcount:
                    changed += 1
                    self.db.execute(
                        "INSERT INTO fact_events VALUES (?, ?, ?, ?, ?)",
                        (fact_id, status, run_id, reason, now),
                    )
        return changed

    def decide(self, fact_id: str, status: FactStatus, run_id: str, reason: str) -> None:
        """A person's decision on a fact: it takes `status`, and the decision is kept in
        `fact_events` even when the status stays as it was (so an accepted fact is known to
        have been looked at)."""
        with self.atomic():
            cursor = self.db.execute("UPDATE fact_rows SET status=?, status_run_id=? WHERE key=?",
                                     (status, run_id, key_of_id(fact_id)))
            if not cursor.rowcount:
                raise KeyError(f"no fact {fact_id} in {self.path}")
            self.db.execute("INSERT INTO fact_events VALUES (?, ?, ?, ?, ?)",
                            (fact_id, status, run_id, reason, time.time()))

    def events_of(self, command: str) -> list[dict[str, Any]]:
        """Every status change made by runs of one command (e.g. each `review` decision), oldest first."""
        rows = self.db.execute(
            "SELECT e.fact_id, e.status, e.run_id, e.reason, e.at FROM fact_events e JOIN runs r ON r.id = e.run_id "
            "WHERE r.command = ? ORDER BY e.rowid", (command,))
        return [dict(fact_id=r[0], status=r[1], run_id=r[2], reason=r[3], at=r[4]) for r in rows]

    def facts(
        self,
        subject: str | None = None,
        predicate: str | Sequence[str] | None = None,
        status: FactStatus | None = "active",
        step: str | None = None,
        object: str | None = None,
    ) -> list[Fact]:
        """Facts matching every filter given, in the order they were stored; `predicate` may
        be several (any of them)."""
        clauses, args = [], []
        for column, value in (("subject", subject), ("predicate", predicate), ("status", status),
                              ("step", step), ("object", object)):
            if isinstance(value, (list, tuple)):
                clauses.append(f"{column} IN ({','.join('?' * len(value))})")
                args.extend(value)
            elif value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.execute(f"SELECT {_FACT_COLUMNS} FROM facts{where} ORDER BY seq", args)
        return [_fact_from_row(row) for row in rows]

    def facts_where(self, predicates: Sequence[str], values: Sequence[str] | None = None,
                    subjects: Sequence[str] | None = None) -> list[Fact]:
        """Active facts of any of `predicates`; when given, only those whose value is one of
        `values` (case-insensitive) and whose subject is one of `subjects`; in the order they
        were stored. Term ids are looked up first, so only those facts are read (through the
        view, SQLite would scan every fact of the predicates)."""
        if not predicates or (values is not None and not values) or (subjects is not None and not subjects):
            return []
        marks = lambda items: ",".join("?" * len(items))  # noqa: E731
        # given subjects, `+` keeps SQLite off the (predicate, object) index: a product's facts are
        # a few rows of the subject index, a broad value's are thousands (164 ms for 100 products)
        where = (f"{'+' if subjects is not None else ''}predicate IN "
                 f"(SELECT id FROM terms WHERE text IN ({marks(predicates)}))")
        if values is not None:
            where += f" AND object IN (SELECT id FROM terms WHERE text COLLATE NOCASE IN ({marks(values)}))"
        rows: list[Sequence[Any]] = []
        for start in range(0, len(subjects) if subjects is not None else 1, 500):  # one query without subjects
            batch = [] if subjects is None else list(subjects[start:start + 500])
            restrict = f" AND subject IN (SELECT id FROM terms WHERE text IN ({marks(batch)}))" if batch else ""
            rows += self.db.execute(
                f"SELECT {_FACT_COLUMNS}, seq FROM facts WHERE seq IN (SELECT rowid FROM fact_rows "
                f"WHERE status = 'active' AND {where}{restrict})", [*predicates, *(values or []), *batch]).fetchall()
        rows.sort(key=lambda row: row[-1])
        return [_fact_from_row(row[:-1]) for row in rows]

    def attribute_values(self) -> dict[str, set[str]]:
        """Attribute -> the values of its active facts over every product, in one query. The
        attribute predicates' term ids are found first (GLOB on a literal prefix uses the terms
        index, and is case-sensitive, unlike LIKE)."""
        rows = self.db.execute(
            "SELECT DISTINCT p.text, o.text FROM fact_rows f JOIN terms p ON p.id = f.predicate "
            "JOIN terms o ON o.id = f.object WHERE f.status = 'active' "
            "AND f.predicate IN (SELECT id FROM terms WHERE text GLOB ?)", (ATTRIBUTE_PREFIX + "*",))
        values: dict[str, set[str]] = {}
        for predicate, value in rows:
            values.setdefault(predicate[len(ATTRIBUTE_PREFIX):], set()).add(value)
        return values

    def fact_history(self, fact_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT status, run_id, reason, at FROM fact_events WHERE fact_id=? ORDER BY rowid",
            (fact_id,),
        )
        return [dict(status=r[0], run_id=r[1], reason=r[2], at=r[3]) for r in rows]

    def stats(self) -> dict[str, Any]:
        """Counts a person reads first: products, types, facts by predicate and status."""
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        by_status = dict(self.db.execute("SELECT status, COUNT(*) FROM fact_rows GROUP BY status"))
        by_predicate = dict(
            self.db.execute("SELECT t.text, COUNT(*) FROM fact_rows f JOIN terms t ON t.id = f.predicate "
                            "WHERE f.status='active' GROUP BY f.predicate ORDER BY COUNT(*) DESC")
        )
        types = one(
            "SELECT COUNT(*) FROM (SELECT lower(product_type) FROM products WHERE product_type "
            "IS NOT NULL UNION SELECT lower(object) FROM facts WHERE predicate='product_type' "
            "AND status='active')"
        )
        return {
            "products": one("SELECT COUNT(*) FROM products"),
            "product_types": types,
            "taxonomy_nodes": one("SELECT COUNT(*) FROM taxonomy"),
            "facts": {"total": sum(by_status.values()), "by_status": by_status,
                      "by_predicate": by_predicate},
            "runs": one("SELECT COUNT(*) FROM runs"),
        }

    # questions (qa/: read-only, what the question engine and the web pages ask) -------------
    def matching_products(self, types: Sequence[str] = (), having: Sequence[HasValue] = (),
                          title_words: Sequence[str] = ()) -> list[str]:
        """Ids, sorted, of the products of any of `types` (catalogue type or active `product_type`
        fact, case-insensitive; every product when none) that meet every condition of `having`
        and whose title holds every one of `title_words` (case-insensitive). One query, started
        from the smaller of the facts with the first positive condition's values (the
        predicate-object index) and the products of the types (the type index): a broad answer
        (thousands of products at 1M facts) is one pass inside SQLite instead of a Python round
        trip per batch of products."""
        args: list[Any] = []
        terms = lambda texts, nocase=False: "(SELECT id FROM terms WHERE text{} IN ({}))".format(  # noqa: E731
            " COLLATE NOCASE" if nocase else "", ",".join("?" * len(texts)))
        facts = ("f.predicate IN {} AND f.object IN {} AND f.status = 'active'")
        type_facts = facts.format("(SELECT id FROM terms WHERE text = ?)", terms(types, nocase=True))
        first = next((c for c in having if not c.negate), None)
        wanted = {_nocase(t) for t in types}  # as the catalogue writes them: the type index matches those
        spellings = [name for name in self._catalogue_type_names() if _nocase(name) in wanted]
        if first is not None and types:
            typed = self._products_of(spellings) + self._fact_count([PRODUCT_TYPE], types)
            if typed < self._fact_count(map(attribute_predicate, first.attributes), first.values):
                first = None  # fewer products of the types than facts with the value: start from the types
        if first is not None:
            driver = (f"SELECT DISTINCT {product_id_sql('s.text')} AS pid, f.subject AS sid FROM fact_rows f "
                      f"JOIN terms s ON s.id = f.subject WHERE "
                      + facts.format(terms(first.attributes), terms(first.values, nocase=True)))
            args += [*map(attribute_predicate, first.attributes), *first.values]
        elif types:
            driver = (f"SELECT p.id AS pid, s.id AS sid FROM products p LEFT JOIN terms s ON s.text = "
                      f"{product_subject_sql('p.id')} WHERE p.product_type IN ({','.join('?' * len(spellings))}) "
                      f"UNION SELECT {product_id_sql('s.text')}, f.subject FROM fact_rows f "
                      f"JOIN terms s ON s.id = f.subject WHERE {type_facts}")
            args += [*spellings, PRODUCT_TYPE, *types]
        else:
            driver = (f"SELECT p.id AS pid, s.id AS sid FROM products p "
                      f"LEFT JOIN terms s ON s.text = {product_subject_sql('p.id')}")
        where: list[str] = []
        if types and first is not None:
            where.append(f"(p.product_type COLLATE NOCASE IN ({','.join('?' * len(types))}) OR EXISTS "
                         f"(SELECT 1 FROM fact_rows f WHERE f.subject = c.sid AND {type_facts}))")
            args += [*types, PRODUCT_TYPE, *types]
        for condition in having:
            if condition is first:
                continue
            where.append(f"{'NOT ' if condition.negate else ''}EXISTS (SELECT 1 FROM fact_rows f WHERE "
                         f"f.subject = c.sid AND "
                         + facts.format(terms(condition.attributes), terms(condition.values, nocase=True)) + ")")
            args += [*map(attribute_predicate, condition.attributes), *condition.values]
        for word in title_words:
            where.append("p.title LIKE ? ESCAPE '\\'")
            args.append("%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        joined = " LEFT JOIN products p ON p.id = c.pid" if (types and first is not None) or title_words else ""
        sql = (f"SELECT DISTINCT c.pid FROM ({driver}) c{joined}"
               + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY c.pid")
        return [row[0] for row in self.db.execute(sql, args)]

    def _catalogue_type_names(self) -> list[str]:
        """Every product type the catalogue gives, as written; read again only after a write
        (one scan of the type index: 25 ms at 100,000 products)."""
        version = (self.db.execute("PRAGMA data_version").fetchone()[0], self.db.total_changes)
        if self._type_names is None or self._type_names[0] != version:
            names = [r[0] for r in self.db.execute("SELECT DISTINCT product_type FROM products "
                                                   "WHERE product_type IS NOT NULL")]
            self._type_names = (version, names)
        return self._type_names[1]

    def _products_of(self, spellings: Sequence[str]) -> int:
        """Products whose catalogue type is one of `spellings` (from the type index alone)."""
        marks = ",".join("?" * len(spellings))
        return self.db.execute(f"SELECT COUNT(*) FROM products WHERE product_type IN ({marks})",
                               list(spellings)).fetchone()[0]

    def _fact_count(self, predicates: Iterable[str], values: Sequence[str]) -> int:
        """Facts, of any status, of these predicates with one of these values (case-insensitive),
        counted from their index alone."""
        predicates = list(predicates)
        return self.db.execute(
            f"SELECT COUNT(*) FROM fact_rows WHERE predicate IN (SELECT id FROM terms WHERE text IN "
            f"({','.join('?' * len(predicates))})) AND object IN (SELECT id FROM terms WHERE text "
            f"COLLATE NOCASE IN ({','.join('?' * len(values))}))", [*predicates, *values]).fetchone()[0]

    def catalogue_types(self, ids: Sequence[str]) -> dict[str, str | None]:
        """Product id -> its catalogue type, for the ids stored (500 to a query), from the
        table's columns: a pass over a batch's types parses no product."""
        found: dict[str, str | None] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            found.update(self.db.execute(f"SELECT id, product_type FROM products WHERE id IN "
                                         f"({','.join('?' * len(chunk))})", chunk))
        return found

    def catalogue_type_pages(self, page: int = 1000) -> Iterator[dict[str, str | None]]:
        """Every product's id -> catalogue type, in the order stored, `page` products at a time."""
        after = 0
        while rows := self.db.execute("SELECT rowid, id, product_type FROM products WHERE rowid > ? "
                                      "ORDER BY rowid LIMIT ?", (after, page)).fetchall():
            yield {product_id: product_type for _, product_id, product_type in rows}
            after = rows[-1][0]

    def products_by_id(self, ids: Iterable[str]) -> dict[str, Product]:
        """The products of these ids that exist, by id."""
        found: dict[str, Product] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            rows = self.db.execute(f"SELECT id, data FROM products WHERE id IN ({','.join('?' * len(batch))})", batch)
            found.update((r[0], Product.model_validate_json(r[1])) for r in rows)
        return found

    def titles(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT title FROM products")]

    def type_counts(self) -> dict[str, int]:
        """Type name -> number of products (catalogue type or active `product_type` fact), one
        entry per type however it is written, most products first."""
        rows = self.db.execute(
            "SELECT name, COUNT(DISTINCT id) FROM ("
            " SELECT id, product_type AS name FROM products WHERE product_type IS NOT NULL"
            f" UNION SELECT {product_id_sql('subject')}, object FROM facts WHERE predicate=? AND status='active')"
            " GROUP BY lower(name) ORDER BY 2 DESC",
            (PRODUCT_TYPE,),
        )
        return dict(rows.fetchall())

    def value_type_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Attribute -> value -> catalogue type of the product (or "") -> products with that
        active fact, over every attribute fact, sorted (the order values are matched in). Read as
        integer rows in one scan of the facts table, the types joined in Python: the same grouping
        through the `facts` view and a join with the products took 29 s at 1M facts, this 9 s
        (docs/benchmarks.md)."""
        type_of = dict(self.db.execute(
            f"SELECT s.id, p.product_type FROM products p JOIN terms s ON s.text = {product_subject_sql('p.id')}"))
        predicates = [r[0] for r in self.db.execute("SELECT id FROM terms WHERE text GLOB ?",
                                                    (ATTRIBUTE_PREFIX + "*",))]
        if not predicates:
            return {}
        # NOT INDEXED: one sequential pass; through the predicate index every row is a random read
        triples = dict.fromkeys(self.db.execute(
            f"SELECT predicate, object, subject FROM fact_rows NOT INDEXED WHERE status = 'active' "
            f"AND predicate IN ({','.join('?' * len(predicates))})", predicates))
        by_pair: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
        for (p, o, kind), count in Counter((p, o, type_of.get(s) or "") for p, o, s in triples).items():
            by_pair[(p, o)][kind] = count
        ids = sorted({i for pair in by_pair for i in pair})
        text = dict(self.db.execute("SELECT id, text FROM terms WHERE id IN (SELECT value FROM json_each(?))",
                                    (json.dumps(ids),)))
        n = len(ATTRIBUTE_PREFIX)
        values: dict[str, dict[str, dict[str, int]]] = {}
        for (attribute, value), per_type in sorted(((text[p][n:], text[o]), per_type)
                                                   for (p, o), per_type in by_pair.items()):
            values.setdefault(attribute, {})[value] = dict(sorted(per_type.items()))
        return values

    def gold_attribute_facts(self) -> dict[tuple[str, str, str], set[str]]:
        """(type, attribute, value) -> ids of products with that active gold fact: what eval
        questions are generated from."""
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

    # incremental work ---------------------------------------------------------------------
    def work_done(self, step: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """key -> (input hash, outputs) of every finished unit of `step`."""
        return _work_records(self.db.execute("SELECT key, input_hash, outputs FROM step_work WHERE step=?", (step,)))

    def work_of(self, step: str, keys: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """`work_done` for these keys only, 500 to a query: a build reads a chunk's records, not
        a million products' at once."""
        found = {}
        for start in range(0, len(keys), 500):
            batch = list(keys[start:start + 500])
            rows = self.db.execute(f"SELECT key, input_hash, outputs FROM step_work WHERE step=? AND key IN "
                                   f"({','.join('?' * len(batch))})", [step, *batch])
            found.update(_work_records(rows))
        return found

    def catalogue_type_names(self) -> list[str]:
        """Every product type the catalogue gives, as written (one scan of the type index)."""
        return list(self._catalogue_type_names())

    def type_phrases(self, step: str) -> dict[str, int]:
        """Type phrase -> active `product_type` facts of `step` stating it, as written; one
        grouped read of the value index, however many products."""
        return dict(self.db.execute(
            "SELECT o.text, COUNT(*) FROM fact_rows f JOIN terms o ON o.id = f.object "
            "WHERE f.status = 'active' AND f.predicate = (SELECT id FROM terms WHERE text = ?) "
            "AND f.provenance IN (SELECT id FROM provenance WHERE step = ?) GROUP BY f.object",
            (PRODUCT_TYPE, step)).fetchall())

    def record_work(self, step: str, key: str, input_hash: str, run_id: str,
                    outputs: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO step_work VALUES (?, ?, ?, ?, ?)",
                        (step, key, input_hash, run_id, json.dumps(outputs)))


def _taxonomy_walk(step: str, order: str) -> str:
    """A query walking the taxonomy from one node (`?`) along `step`, selecting id, name,
    parent, attributes. Ingest keeps cycles out, but files ingested one after another can
    still close one, so a walk never enters a node it has been through (`seen` holds the ids,
    each between unit separators), and stops at 64 levels: a guard, far deeper than real
    taxonomies (the full Shopify taxonomy's longest path has 8 levels)."""
    return ("WITH RECURSIVE walk(id, name, parent, attributes, depth, seen) AS ("
            " SELECT id, name, parent, attributes, 0, char(31) || id || char(31) FROM taxonomy WHERE id=?"
            " UNION ALL SELECT t.id, t.name, t.parent, t.attributes, walk.depth + 1,"
            f" walk.seen || t.id || char(31) FROM taxonomy t JOIN walk ON {step}"
            " WHERE walk.depth < 64 AND instr(walk.seen, char(31) || t.id || char(31)) = 0)"
            f" SELECT id, name, parent, attributes FROM walk ORDER BY {order}")


def _connect_for_writing(path: Path) -> sqlite3.Connection:
    """A writing connection, migrated, to an intact ledger this shelfgraph knows: checked
    before anything is written, so a damaged or newer file is left exactly as it was."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.OperationalError as err:
        raise StoreError(f"cannot open {path} for writing: {err}") from err
    try:
        db.execute("PRAGMA busy_timeout=30000")  # first: another process may be setting the file up
        _check_intact(db, path)
        newer = unknown(db)
        if newer:
            raise StoreError(f"{path} was written by a newer shelfgraph (schema {', '.join(newer)} unknown "
                             "here); upgrade shelfgraph to write to it (reading it still works)")
        _use_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint every ~40 MB of WAL, not every 4 MB: each checkpoint syncs and rewrites the
        # index pages a batch touched, and at the default a big batch paid for one every commit.
        db.execute("PRAGMA wal_autocheckpoint=10000")
        if sqlite3.sqlite_version_info < (3, 41):  # m002 converts text ids with unhex() (SQLite 3.41+)
            db.create_function("unhex", 1, bytes.fromhex, deterministic=True)
        migrate(db)
    except sqlite3.OperationalError as err:  # a read-only file or folder, locked past the timeout
        db.close()
        raise StoreError(f"cannot write to {path}: {err}") from err
    except BaseException:
        db.close()
        raise
    return db


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL. When two processes switch one new file at the same moment, SQLite answers
    "database is locked" at once instead of waiting (each holds the read lock the other's switch
    needs), so this retries for up to five seconds."""
    for attempt in range(100):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if err.sqlite_errorname != "SQLITE_BUSY" or attempt == 99:
                raise
            time.sleep(0.05)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A `mode=ro`, `query_only` connection. In a folder this process cannot write, a WAL
    file cannot be opened that way (SQLite would need to create its `-shm` index beside it);
    SQLite says so only when no `-wal` file is there either, so no write is unfinished and no
    writer can be at work: the file alone is the database, and `immutable=1` reads it as is."""
    if not path.is_file():
        raise FileNotFoundError(f"no graph at {path}; create one with `shelfgraph ingest`")
    db = _connect_uri(path, "mode=ro")
    try:
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as err:
            if err.sqlite_errorname != "SQLITE_READONLY_DIRECTORY":
                raise
            db.close()
            db = _connect_uri(path, "immutable=1")
        behind = pending(db, for_reading=True)  # a store behind only by indexes reads as it is
    except sqlite3.DatabaseError as err:  # "file is not a database", a damaged schema
        db.close()
        raise StoreError(f"cannot read {path}: {err}; check --store") from err
    if behind:
        db.close()
        raise StoreError(f"{path}: schema is behind ({', '.join(behind)} not applied); a writing command "
                         f"(`shelfgraph ingest` or `build` with --store {path}) upgrades it")
    return db


def _connect_uri(path: Path, flags: str) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path.resolve()}?{flags}", uri=True, isolation_level=None,
                         check_same_thread=False)
    db.execute("PRAGMA query_only=ON")
    db.execute("PRAGMA busy_timeout=30000")
    return db


def _check_intact(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not a SQLite database or fails `PRAGMA quick_check`; writing
    into a damaged file would spread the damage (cost: docs/benchmarks.md)."""
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
    except sqlite3.OperationalError:
        raise  # locked or unreadable: not a verdict on the file's contents
    except sqlite3.DatabaseError as err:  # "file is not a database", "database disk image is malformed"
        problems = [str(err)]
    if problems != ["ok"]:
        raise StoreError(f"{path} is damaged ({'; '.join(problems)}); nothing was written to it. "
                         "Restore it from a backup or build into a new store")


_RUN_COLUMNS = "id, command, config, started_at, finished_at, status, summary"


def _run_from_row(r: Sequence[Any]) -> Run:
    return Run(id=r[0], command=r[1], config=json.loads(r[2]), started_at=r[3], finished_at=r[4], status=r[5],
               summary=json.loads(r[6]))


def _fact_from_row(row: Sequence[Any]) -> Fact:
    """Built without validation: the ledger's columns were validated as facts when stored, and
    a build reads back every fact of its batch, more than once."""
    (subject, predicate, obj, confidence, status, step, method, model, prompt, field, start,
     end, run_id) = row
    return Fact.model_construct(
        subject=subject, predicate=predicate, object=obj, confidence=confidence, status=status,
        provenance=Provenance.model_construct(step=step, method=method, model=model, prompt=prompt,
                                              source_field=field, start=start, end=end, run_id=run_id),
    )


def _dictionary(column: Any) -> tuple[list[Any], Any]:
    """An Arrow column as its distinct values (None among them) and each row's index into them."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column, null_encoding="encode").combine_chunks()
    return encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False)


def _distinct_rows(table: Any, names: Sequence[str]) -> tuple[list[tuple], Any]:
    """The distinct rows of some columns of an Arrow table, and each row's index into them:
    the columns' dictionary codes are combined one column at a time, kept dense."""
    import numpy as np

    code = np.zeros(table.num_rows, dtype=np.int64)
    for name in names:
        values, codes = _dictionary(table.column(name))
        code = np.unique(code * len(values) + codes, return_inverse=True)[1].reshape(-1)
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    rows = table.select(list(names)).take(first).to_pylist()
    return [tuple(row[name] for name in names) for row in rows], inverse.reshape(-1)


def _work_records(rows: Iterable[tuple[str, str, str]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """key -> (input hash, outputs) of `step_work` rows read as (key, input_hash, outputs)."""
    return {key: (digest, json.loads(outputs)) for key, digest, outputs in rows}
