"""Values interned to small integer ids in an append-only SQLite table, cached in memory.

The fact ledger stores each subject, predicate, value and provenance once and refers to it
by id: rows and indexes stay small, which is what makes bulk inserts fast. Ids are never
deleted or reused, so a cached id stays right; a value not in the cache is looked up in the
table (another connection may have added it), and the owner calls `forget` after a rollback
(the cache may hold undone ids).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any


class InternTable:
    """`ids(values)` gives every value an id, inserting the new ones; call it inside a write
    transaction so no other connection inserts between the read and the insert. One column
    interns plain values, several intern tuples. The cache holds at most `limit` values (the
    values of a million products would otherwise stay in memory): past it, only the values of
    the current call are kept."""

    def __init__(self, db: sqlite3.Connection, table: str, columns: tuple[str, ...], limit: int = 50_000):
        self._db, self._table, self._columns, self._limit = db, table, columns, limit
        self._ids: dict[Hashable, int] = {}

    def ids(self, values: Iterable[Hashable]) -> Mapping[Hashable, int]:
        """A mapping holding (at least) every one of `values`."""
        known = self._ids
        wanted = dict.fromkeys(values)  # first-seen order: stable ids
        missing = [v for v in wanted if v not in known]
        if not missing:
            return known
        if len(known) + len(missing) > self._limit:
            known = self._ids = {v: known[v] for v in wanted if v in known}
        self._read_stored(missing)  # another connection may have added them, or the cache let them go
        new = [v for v in missing if v not in known]
        if new:
            top = self._db.execute(f"SELECT coalesce(max(id), 0) FROM {self._table}").fetchone()[0]
            marks = ", ".join("?" * len(self._columns))
            self._db.executemany(f"INSERT INTO {self._table} ({', '.join(self._columns)}) VALUES ({marks})",
                                 new if len(self._columns) > 1 else [(v,) for v in new])
            self._read(f"id > {top}", ())  # only ours: the caller holds the write transaction
        return known

    def forget(self) -> None:
        self._ids.clear()

    def _read_stored(self, values: list[Hashable]) -> None:
        """Cache the ids of those of `values` the table holds: single values 500 to a query,
        tuples one by one (they hold NULLs, which `IN` never matches; a table of them is small)."""
        if len(self._columns) == 1:
            for start in range(0, len(values), 500):
                chunk = values[start:start + 500]
                self._read(f"{self._columns[0]} IN ({', '.join('?' * len(chunk))})", chunk)
        else:
            for value in values:
                self._read(" AND ".join(f"{c} IS ?" for c in self._columns), value)  # type: ignore[arg-type]

    def _read(self, where: str, params: Sequence[Any]) -> None:
        single = len(self._columns) == 1
        for row in self._db.execute(f"SELECT id, {', '.join(self._columns)} FROM {self._table} WHERE {where}",
                                    params):
            self._ids[row[1] if single else row[1:]] = row[0]
