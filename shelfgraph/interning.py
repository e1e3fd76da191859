"""Values interned to small integer ids in an append-only SQLite table, cached in memory.

The fact ledger stores each subject, predicate, value and provenance once and refers to it
by id: rows and indexes stay small, which is what makes bulk inserts fast. Ids are never
deleted or reused, so a cached id stays right; rows another connection added are read on the
next miss, and the owner calls `forget` after a rollback (the cache may hold undone ids).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable, Iterable, Mapping


class InternTable:
    """`ids(values)` gives every value an id, inserting the new ones; call it inside a write
    transaction so no other connection inserts between the read and the insert. One column
    interns plain values, several intern tuples."""

    def __init__(self, db: sqlite3.Connection, table: str, columns: tuple[str, ...]):
        self._db, self._table, self._columns = db, table, columns
        self._ids: dict[Hashable, int] = {}
        self._seen = 0  # highest id read into the cache

    def ids(self, values: Iterable[Hashable]) -> Mapping[Hashable, int]:
        known = self._ids
        missing = dict.fromkeys(v for v in values if v not in known)  # first-seen order: stable ids
        if missing:
            self._read_new()
            new = [v for v in missing if v not in known]
            if new:
                marks = ", ".join("?" * len(self._columns))
                self._db.executemany(
                    f"INSERT INTO {self._table} ({', '.join(self._columns)}) VALUES ({marks})",
                    new if len(self._columns) > 1 else [(v,) for v in new],
                )
                self._read_new()
        return known

    def forget(self) -> None:
        self._ids.clear()
        self._seen = 0

    def _read_new(self) -> None:
        single = len(self._columns) == 1
        rows = self._db.execute(
            f"SELECT id, {', '.join(self._columns)} FROM {self._table} WHERE id > ? ORDER BY id", (self._seen,)
        )
        for row in rows:
            self._ids[row[1] if single else row[1:]] = row[0]
            self._seen = row[0]
