"""Values interned to small integer ids in an append-only SQLite table, cached in memory.

The fact ledger stores each subject, predicate, value and provenance once and refers to it
by id: rows and indexes stay small, which is what makes bulk inserts fast. Ids are never
deleted or reused, so a cached id stays right; a value not in the cache is looked up in the
table (another connection may have added it), and the owner calls `forget` after a rollback
(the cache may hold undone ids).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable, Iterable, Mapping


class InternTable:
    """`ids(values)` gives every value an id, inserting the new ones; call it inside a write
    transaction so no other connection inserts between the read and the insert. One column
    interns plain values, several intern tuples. The cache holds at most `limit` values (the
    values of a million products would otherwise stay in memory): past it, only the values of
    the current call are kept."""

    def __init__(self, db: sqlite3.Connection, table: str, columns: tuple[str, ...], limit: int = 200_000):
        self._db, self._table, self._columns, self._limit = db, table, columns, limit
        self._ids: dict[Hashable, int] = {}
        marks = ", ".join("?" * len(columns))
        self._select = f"SELECT id FROM {table} WHERE {' AND '.join(f'{c} IS ?' for c in columns)}"
        self._insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    def ids(self, values: Iterable[Hashable]) -> Mapping[Hashable, int]:
        """A mapping holding (at least) every one of `values`."""
        known = self._ids
        wanted = dict.fromkeys(values)  # first-seen order: stable ids
        missing = [v for v in wanted if v not in known]
        if missing and len(known) + len(missing) > self._limit:
            known = self._ids = {v: known[v] for v in wanted if v in known}
        for value in missing:  # looked up by value: another connection may have added it
            params = value if len(self._columns) > 1 else (value,)
            row = self._db.execute(self._select, params).fetchone()
            known[value] = row[0] if row else self._db.execute(self._insert, params).lastrowid
        return known

    def forget(self) -> None:
        self._ids.clear()
