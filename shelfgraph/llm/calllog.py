"""The call log and cache: every LLM call is a row in `<home>/logs.db`, like simonw/llm.

An identical call (same model, verb, prompt text and parameters) is answered from the last
successful row with the same `cache_key`, unless the cache is off. Schema changes are named
migrations recorded in `_migrations`, applied on open.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..migrations import migrate
from ..models import canonical_json, content_hash

# (name, SQL script), applied in order by the same mechanism as the fact ledger's.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_calls",
        """
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY, at REAL NOT NULL, model TEXT NOT NULL, backend TEXT NOT NULL,
            verb TEXT NOT NULL, prompt_ref TEXT, prompt_hash TEXT NOT NULL, input TEXT NOT NULL,
            output TEXT, error TEXT, tokens_in INTEGER, tokens_out INTEGER,
            latency_ms REAL NOT NULL, compute_ms REAL, attempts INTEGER NOT NULL DEFAULT 1,
            cached INTEGER NOT NULL DEFAULT 0, cache_key TEXT NOT NULL
        );
        CREATE INDEX calls_by_key ON calls(cache_key);
        """,
    ),
]


def cache_key(model: str, verb: str, prompt: str, params: dict[str, Any]) -> str:
    return content_hash({"model": model, "verb": verb, "prompt": prompt, "params": params})


class CallLog:
    """One SQLite file, shared by threads through a lock; each write is one transaction."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._db, MIGRATIONS)

    def lookup(self, key: str) -> str | None:
        """Output of the last successful, uncached call with this key."""
        with self._lock:
            row = self._db.execute(
                "SELECT output FROM calls WHERE cache_key = ? AND error IS NULL AND cached = 0 "
                "ORDER BY id DESC LIMIT 1",
                (key,),
            ).fetchone()
        return row["output"] if row else None

    def record(self, **row: Any) -> None:
        row.setdefault("at", time.time())
        row["prompt_hash"] = content_hash(row["input"])[:16]
        for field in ("input", "output"):
            if row.get(field) is not None and not isinstance(row[field], str):
                row[field] = canonical_json(row[field])
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._lock, self._db:
            self._db.execute(f"INSERT INTO calls ({columns}) VALUES ({marks})", tuple(row.values()))

    def recent(self, n: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM calls ORDER BY id DESC LIMIT ?", (n,)).fetchall()
        return [dict(r) for r in rows]

    def stats(self, since: float = 0.0) -> dict[str, int]:
        """Model calls (cache hits included) and cache hits logged since a time."""
        with self._lock:
            calls, hits = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(cached), 0) FROM calls WHERE at >= ?", (since,)
            ).fetchone()
        return {"calls": calls, "cache_hits": hits}

    def close(self) -> None:
        self._db.close()
