"""The store protects itself: newer schemas, damaged files, read-only folders, two writers at
once, and runs that fail. Real SQLite files and real processes throughout."""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfgraph.buildrun import run_build
from shelfgraph.cli import app
from shelfgraph.context import LLMConfig
from shelfgraph.errors import InputError, StoreError
from shelfgraph.models import Fact, Provenance, attribute_predicate
from shelfgraph.migrations import MIGRATIONS
from shelfgraph.pipeline import BuildConfig
from shelfgraph.store import Ledger

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _facts(count: int) -> list[Fact]:
    return [Fact(subject=f"p{i}", predicate=attribute_predicate("Brand"), object=f"brand {i}", confidence=0.9,
                 provenance=Provenance(step="imputation", method="baseline", run_id="r1", source_field="title"))
            for i in range(count)]


def _ledger_with_facts(path: Path, count: int = 20) -> Path:
    with Ledger(path) as ledger:
        ledger.add_facts(_facts(count))
    return path


def _env() -> dict[str, str]:
    """This worktree's shelfgraph; an uncaught error's message on one line, not in a rich box."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "_TYPER_STANDARD_TRACEBACK": "1"}


# ------------------------------------------------------------------ newer schema, damaged files
def test_a_ledger_with_a_newer_schema_is_refused_for_writing_and_left_as_it_was(tmp_path):
    path = _ledger_with_facts(tmp_path / "g.db")
    db = sqlite3.connect(path)
    db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 0)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"g\.db was written by a newer shelfgraph \(schema m999_from_the_future "
                                         r"unknown here\); upgrade shelfgraph"):
        Ledger(path)
    assert path.read_bytes() == before
    with Ledger(path, read_only=True) as reader:  # reading cannot harm it
        assert len(reader.facts()) == 20


def test_a_damaged_ledger_is_detected_on_open_and_nothing_is_written_to_it(tmp_path):
    path = _ledger_with_facts(tmp_path / "g.db", count=3000)
    size = path.stat().st_size
    with path.open("r+b") as handle:  # whole pages of garbage in the middle of the file
        handle.seek(size // 2 // 4096 * 4096)
        handle.write(b"\xde\xad\xbe\xef" * 2048)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=rf"{path} is damaged \(.+\); nothing was written to it"):
        Ledger(path)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_file_that_is_not_a_database_is_refused_by_name_for_reading_and_writing(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a graph\n" * 200)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=rf"{path} is damaged \(file is not a database\)"):
        Ledger(path)
    with pytest.raises(StoreError, match=rf"cannot read {path}: file is not a database"):
        Ledger(path, read_only=True)
    assert path.read_bytes() == before


# ------------------------------------------------------------------ read-only folders
def _drop_write_override() -> None:
    """Runs in the child before exec. Tests run as root here, and root writes into read-only
    folders anyway (CAP_DAC_OVERRIDE); dropping that capability and CAP_DAC_READ_SEARCH from
    the bounding set makes the exec'd process, still root, obey file permissions like any user."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _cli_bound_by_permissions(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shelfgraph", *args], env=_env(), capture_output=True, text=True,
                          preexec_fn=_drop_write_override, timeout=300)


def test_read_commands_work_on_a_store_in_a_read_only_folder(tmp_path, demo_data):
    folder = tmp_path / "published"
    store = folder / "g.db"
    result = runner.invoke(app, ["ingest", str(demo_data / "catalog.jsonl"), "--store", str(store)])
    assert result.exit_code == 0, result.output
    products = len((demo_data / "catalog.jsonl").read_text().splitlines())
    (folder / "g.db.lock").unlink(missing_ok=True)
    listing = sorted(p.name for p in folder.iterdir())
    assert listing == ["g.db"]  # WAL closed cleanly: one file
    folder.chmod(0o555)
    try:
        probe = _cli_bound_by_permissions("ingest", str(demo_data / "catalog.jsonl"), "--store", str(store))
        assert probe.returncode != 0 and "cannot write to" in probe.stderr  # the folder really is read-only
        stats = _cli_bound_by_permissions("stats", "--store", str(store), "--json")
        show = _cli_bound_by_permissions("show", "demo-021", "--store", str(store), "--json")
        out = tmp_path / "facts.jsonl"
        export = _cli_bound_by_permissions("export", "--store", str(store), "--format", "jsonl", "--out", str(out))
        ask = _cli_bound_by_permissions("ask", "Which coffees are decaf?", "--store", str(store), "--no-llm",
                                        "--json")
    finally:
        folder.chmod(0o755)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["products"] == products
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["product"]["title"].startswith("Door County Coffee")
    assert export.returncode == 0, export.stderr
    assert len(out.read_text().splitlines()) >= products
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["product_ids"] == ["demo-030", "demo-036"]
    assert sorted(p.name for p in folder.iterdir()) == listing


# ------------------------------------------------------------------ two writers
def _ingest_waiting_on_a_pipe(tmp_path: Path, store: Path) -> tuple[subprocess.Popen, Path]:
    """A real `shelfgraph ingest` of a Shopify taxonomy that opens the store, then waits for
    the taxonomy's attributes.yml: a named pipe that `_feed` writes later. Returns once the run
    is recorded as running."""
    folder = tmp_path / "shopify"
    (folder / "categories").mkdir(parents=True)
    (folder / "categories" / "fb.yml").write_text("- id: fb\n  name: Food\n")
    pipe = folder / "attributes.yml"
    os.mkfifo(pipe)
    process = subprocess.Popen([sys.executable, "-m", "shelfgraph", "ingest", str(folder), "--store", str(store)],
                               env=_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not _runs(store):
        assert process.poll() is None and time.monotonic() < deadline, "the first ingest never started its run"
        time.sleep(0.1)
    return process, pipe


def _runs(store: Path) -> list[tuple[str, str]]:
    if not store.exists():
        return []
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return db.execute("SELECT command, status FROM runs ORDER BY started_at").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        db.close()


def _feed(pipe: Path, text: str, reader: subprocess.Popen) -> None:
    """Write to the pipe once `reader` opens it; never blocks on a reader that has died."""
    deadline = time.monotonic() + 120
    while True:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:  # ENXIO: no reader yet
            assert reader.poll() is None and time.monotonic() < deadline, "the ingest stopped reading"
            time.sleep(0.05)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def test_a_second_writer_is_refused_while_the_first_is_at_work(tmp_path):
    store = tmp_path / "g.db"
    first, pipe = _ingest_waiting_on_a_pipe(tmp_path, store)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "p2", "title": "Illy Classico"}) + "\n")
    try:
        second = subprocess.run([sys.executable, "-m", "shelfgraph", "ingest", str(other), "--store", str(store)],
                                env=_env(), capture_output=True, text=True, timeout=120)
    finally:
        _feed(pipe, "", first)
        first.communicate(timeout=120)
    assert first.returncode == 0, first.stderr
    assert second.returncode != 0
    assert (f"another shelfgraph process (pid {first.pid}) is writing to {store}; "
            "wait for it to finish or use another store") in second.stderr
    assert _runs(store) == [("ingest", "finished")]
    with Ledger(store, read_only=True) as ledger:
        assert [n.id for n in ledger.taxonomy_nodes()] == ["fb"] and ledger.product("p2") is None


def test_a_run_whose_process_was_killed_is_marked_failed_by_the_next_writer(tmp_path):
    store = tmp_path / "g.db"
    victim, _ = _ingest_waiting_on_a_pipe(tmp_path, store)
    victim.send_signal(signal.SIGKILL)  # no Python code runs: only the next writer can tell
    victim.communicate(timeout=60)
    catalog = tmp_path / "c.jsonl"
    catalog.write_text(json.dumps({"id": "p1", "title": "Lavazza Espresso"}) + "\n")
    assert runner.invoke(app, ["ingest", str(catalog), "--store", str(store)]).exit_code == 0
    assert _runs(store) == [("ingest", "failed"), ("ingest", "finished")]
    with Ledger(store, read_only=True) as ledger:
        assert ledger.runs()[-1].summary["error"].startswith("abandoned")


def _open_at_once(path: str, barrier) -> None:
    barrier.wait()
    Ledger(path).close()


def test_processes_setting_up_one_new_store_at_once_do_not_race(tmp_path):
    """Each round, four processes open the same new file at the same moment; before, two of
    them would both apply the schema ("view facts may not be altered", "table runs already exists")."""
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        path = str(tmp_path / f"g{round_}.db")
        barrier = context.Barrier(4)
        workers = [context.Process(target=_open_at_once, args=(path, barrier)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [w.exitcode for w in workers] == [0, 0, 0, 0]
        with Ledger(path) as ledger:
            names = [r[0] for r in ledger.db.execute("SELECT name FROM _migrations")]
        assert names == [name for name, _ in MIGRATIONS]


# ------------------------------------------------------------------ runs that fail
def _build(tmp_path: Path, catalog: list[Path] | None = None, taxonomy: Path | None = None) -> None:
    run_build(store=tmp_path / "g.db", catalog=catalog or [], taxonomy=taxonomy, reviews=[], labelled=[],
              config=BuildConfig(method="baseline"), llm=LLMConfig(), quiet=True)


def test_a_build_failing_in_ingest_or_interrupted_is_marked_failed(tmp_path, monkeypatch):
    not_a_taxonomy = tmp_path / "folder"
    not_a_taxonomy.mkdir()
    with pytest.raises(InputError, match="a folder with neither catalogue files"):
        _build(tmp_path, taxonomy=not_a_taxonomy)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("shelfgraph.buildrun.ingest_paths", interrupted)  # Ctrl-C during ingest
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path, catalog=[tmp_path / "c.jsonl"])
    with Ledger(tmp_path / "g.db", read_only=True) as ledger:
        runs = ledger.runs()
    assert [(r.command, r.status) for r in runs] == [("build", "failed"), ("build", "failed")]
    assert runs[0].summary["error"] == "KeyboardInterrupt()"
    assert "a folder with neither catalogue files" in runs[1].summary["error"]


def test_a_failing_ingest_is_marked_failed(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    result = runner.invoke(app, ["ingest", str(folder), "--store", str(tmp_path / "g.db")])
    assert result.exit_code != 0
    with Ledger(tmp_path / "g.db", read_only=True) as ledger:
        [run] = ledger.runs()
    assert run.status == "failed" and "a folder with neither catalogue files" in run.summary["error"]
