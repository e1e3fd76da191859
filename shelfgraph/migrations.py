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
    (
        # Dictionary-encoded facts: every subject, predicate and value is a row of `terms`, every
        # provenance a row of `provenance`, and a fact row holds their ids and its 16-byte key
        # (Fact.id without "sha256:"). Rows and indexes shrink to a few integers: at a million
        # facts inserts ran 1.2-1.5x faster and the file was 2.3x smaller (docs/benchmarks.md).
        # The view `facts` reads as the old table did.
        "m002_dictionary_encoded_facts",
        """
        ALTER TABLE facts RENAME TO facts_m001;
        DROP INDEX facts_by_subject;
        DROP INDEX facts_by_predicate_object;
        CREATE TABLE terms (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
        CREATE INDEX terms_by_text_nocase ON terms(text COLLATE NOCASE);
        CREATE TABLE provenance (
            id INTEGER PRIMARY KEY, step TEXT NOT NULL, method TEXT NOT NULL, model TEXT,
            prompt TEXT, source_field TEXT, run_id TEXT NOT NULL
        );
        CREATE TABLE fact_rows (
            key BLOB NOT NULL, subject INTEGER NOT NULL, predicate INTEGER NOT NULL,
            object INTEGER NOT NULL, confidence REAL, status TEXT NOT NULL,
            provenance INTEGER NOT NULL, start INTEGER, "end" INTEGER, status_run_id TEXT,
            created_at REAL NOT NULL
        );
        INSERT INTO terms (text) SELECT subject FROM facts_m001 UNION SELECT predicate FROM facts_m001
            UNION SELECT object FROM facts_m001;
        INSERT INTO provenance (step, method, model, prompt, source_field, run_id)
            SELECT DISTINCT step, method, model, prompt, source_field, run_id FROM facts_m001;
        INSERT INTO fact_rows
            SELECT unhex(substr(f.id, 8)), s.id, p.id, o.id, f.confidence, f.status, v.id, f.start,
                   f."end", f.status_run_id, f.created_at
            FROM facts_m001 f JOIN terms s ON s.text = f.subject JOIN terms p ON p.text = f.predicate
            JOIN terms o ON o.text = f.object
            JOIN provenance v ON v.step = f.step AND v.method = f.method AND v.model IS f.model
                 AND v.prompt IS f.prompt AND v.source_field IS f.source_field AND v.run_id = f.run_id
            ORDER BY f.rowid;
        DROP TABLE facts_m001;
        CREATE UNIQUE INDEX fact_rows_by_key ON fact_rows(key);
        CREATE INDEX fact_rows_by_subject ON fact_rows(subject, predicate);
        CREATE INDEX fact_rows_by_predicate_object ON fact_rows(predicate, object);
        CREATE VIEW facts AS
            SELECT 'sha256:' || lower(hex(f.key)) AS id, s.text AS subject, p.text AS predicate,
                   o.text AS object, f.confidence, f.status, v.step, v.method, v.model, v.prompt,
                   v.source_field, f.start, f."end", v.run_id, f.status_run_id, f.created_at,
                   f.rowid AS seq
            FROM fact_rows f JOIN terms s ON s.id = f.subject JOIN terms p ON p.id = f.predicate
            JOIN terms o ON o.id = f.object JOIN provenance v ON v.id = f.provenance;
        """,
    ),
    (
        # Covering indexes for questions (issue 18). "Does product X have value V" becomes one
        # seek in the value index, where it was a seek in the subject index and a read of each
        # of X's fact rows; the subjects of a value's facts, and a type's product ids, are read
        # from their index alone. Each replaces the narrower index it extends (same leading
        # columns), so every query that used the old one uses the new. At 1M facts: a broad
        # answer's SQL 53 -> 19.6 ms CPU, the file 177 -> 186 MiB (docs/benchmarks.md).
        "m003_covering_question_indexes",
        """
        DROP INDEX fact_rows_by_predicate_object;
        CREATE INDEX fact_rows_by_predicate_object ON fact_rows(predicate, object, status, subject);
        DROP INDEX products_by_type;
        CREATE INDEX products_by_type ON products(product_type, id);
        """,
    ),
]

# Migrations that only add or widen indexes: a store without them answers every query the same,
# only slower, so it still opens read-only (nothing may write there to apply them; the next
# writing command does).
INDEX_ONLY = frozenset({"m003_covering_question_indexes"})


def migrate(db: sqlite3.Connection, migrations: list[tuple[str, str]] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded in `_migrations`; return the names applied.
    The fact ledger and the LLM call log each pass their own list.

    Safe when several processes open one new file at once: each migration is one
    `BEGIN IMMEDIATE` transaction that records its name first, so a second process waits for
    the first and, finding the name taken, leaves the schema as the first one made it."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    todo = set(pending(db, migrations))
    applied = []
    for name, script in migrations:
        if name not in todo:
            continue
        try:
            db.executescript(f"BEGIN IMMEDIATE; INSERT INTO _migrations VALUES ('{name}', "
                             f"strftime('%s','now')); {script}; COMMIT;")
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK")
            if name in pending(db, migrations):
                raise  # the script's own failure, not another process's record of it
            continue
        applied.append(name)
    return applied


def pending(db: sqlite3.Connection, migrations: list[tuple[str, str]] = MIGRATIONS,
            for_reading: bool = False) -> list[str]:
    """Names of the migrations not applied yet (read-only: applies nothing); `for_reading`,
    only those a reader needs (not the INDEX_ONLY ones)."""
    done = _applied(db)
    return [name for name, _ in migrations if name not in done and not (for_reading and name in INDEX_ONLY)]


def unknown(db: sqlite3.Connection, migrations: list[tuple[str, str]] = MIGRATIONS) -> list[str]:
    """Names applied that this code does not know: a newer shelfgraph wrote the schema."""
    known = {name for name, _ in migrations}
    return sorted(_applied(db) - known)


def _applied(db: sqlite3.Connection) -> set[str]:
    has_table = db.execute("SELECT 1 FROM sqlite_master WHERE name='_migrations'").fetchone()
    return {row[0] for row in db.execute("SELECT name FROM _migrations")} if has_table else set()
