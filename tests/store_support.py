"""Helpers for tests about ledgers written by an older shelfgraph."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# The indexes as m002 made them, and m003's record gone: a store written before m003.
_BEFORE_M003 = """
DROP INDEX fact_rows_by_predicate_object;
CREATE INDEX fact_rows_by_predicate_object ON fact_rows(predicate, object);
DROP INDEX products_by_type;
CREATE INDEX products_by_type ON products(product_type);
DELETE FROM _migrations WHERE name = 'm003_covering_question_indexes';
"""


def as_before_m003(path: Path) -> None:
    """Turn the ledger at `path` back into one a shelfgraph before m003 wrote."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(f"BEGIN; {_BEFORE_M003} COMMIT;")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def index_columns(db: sqlite3.Connection, index: str) -> list[str]:
    return [row[2] for row in db.execute(f"PRAGMA index_info({index})")]
