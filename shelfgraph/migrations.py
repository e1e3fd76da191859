"""Ordered, named schema migrations, recorded in `_migrations`: the fact ledger's own list
here, and the one mechanism that applies any such list.

Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

# (name, SQL script), applied in order.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_initial",
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, command TEXT NOT NULL, config TEXT NOT NULL,
            started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE products (
            id TEXT PRIMARY KEY, title TEXT NOT NULL, product_type TEXT,
            content_hash TEXT NOT NULL, data TEXT NOT NULL, source TEXT, run_id TEXT
        );
        CREATE INDEX products_by_type ON products(product_type);
        CREATE TABLE taxonomy (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT, attributes TEXT NOT NULL,
            source TEXT
        );
        CREATE INDEX taxonomy_by_parent ON taxonomy(parent);
        CREATE INDEX taxonomy_by_name ON taxonomy(name COLLATE NOCASE);
        CREATE TABLE facts (
            id TEXT PRIMARY KEY, subject TEXT NOT NULL, predicate TEXT NOT NULL,
            object TEXT NOT NULL, confidence REAL, status TEXT NOT NULL,
            step TEXT NOT NULL, method TEXT NOT NULL, model TEXT, prompt TEXT,
            source_field TEXT, start INTEGER, "end" INTEGER,
            run_id TEXT NOT NULL, status_run_id TEXT, created_at REAL NOT NULL
        );
        CREATE INDEX facts_by_subject ON facts(subject, predicate);
        CREATE INDEX facts_by_predicate_object ON facts(predicate, object COLLATE NOCASE);
        CREATE TABLE fact_events (
            fact_id TEXT NOT NULL, status TEXT NOT NULL, run_id TEXT NOT NULL,
            reason TEXT, at REAL NOT NULL
        );
        CREATE INDEX fact_events_by_fact ON fact_events(fact_id);
        -- Work a step has finished for one key (a product id, a type...): the hash of every
        -- input it read, and the facts it asserted or flagged, to retract them when inputs change.
        CREATE TABLE step_work (
            step TEXT NOT NULL, key TEXT NOT NULL, input_hash TEXT NOT NULL,
            run_id TEXT NOT NULL, outputs TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (step, key)
        );
        """,
    ),
]


def migrate(db: sqlite3.Connection, migrations: list[tuple[str, str]] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded in `_migrations`; return the names applied.
    The fact ledger and the LLM call log each pass their own list."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    todo = set(pending(db, migrations))
    applied = []
    for name, script in migrations:
        if name not in todo:
            continue
        # One transaction per migration: the schema change and its record land together.
        db.executescript(
            f"BEGIN; {script}; INSERT INTO _migrations VALUES ('{name}', strftime('%s','now')); COMMIT;"
        )
        applied.append(name)
    return applied


def pending(db: sqlite3.Connection, migrations: list[tuple[str, str]] = MIGRATIONS) -> list[str]:
    """Names of the migrations not applied yet (read-only: applies nothing)."""
    has_table = db.execute("SELECT 1 FROM sqlite_master WHERE name='_migrations'").fetchone()
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")} if has_table else set()
    return [name for name, _ in migrations if name not in done]
