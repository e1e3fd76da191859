"""How commands fail: one line naming the thing and what to do, the documented exit status
(docs/exit-status.md), a traceback only with --debug; `ask` answering without a failing model.

Faults are real where the machine allows (a missing file, /dev/full, a file that is not a
database, a closed port, a server that never answers); a bug and Ctrl-C are injected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llm_support import SilentServer, free_port
from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.errors import INTERRUPTED_EXIT, InputError, ModelError, StoreError, UsageError
from shelfgraph.ingest import ingest_paths
from shelfgraph.store import Ledger

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
NO_CUE = "decaf coffees from Folgers?"  # no cue word: the planner asks the model for the intent
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("errors") / "demo.db"
    with Ledger(path) as ledger:
        run = ledger.start_run("test")
        ingest_paths(ledger, [DEMO / "catalog.jsonl", DEMO / "labelled.jsonl"], run.id)
    return path


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text("a,b,label\nHewlett-Packard,HP,1\n")
    return path


def error_line(result) -> str:
    """The failure's one line on stderr; nothing else there."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_missing_store_is_one_line_with_status_4_and_debug_adds_the_traceback(tmp_path: Path):
    missing = tmp_path / "none.db"
    result = runner.invoke(app, ["stats", "--store", str(missing)])
    assert result.exit_code == InputError.exit_code == 4
    line = error_line(result)
    assert str(missing) in line and "shelfgraph ingest" in line and "Traceback" not in result.output

    debug = runner.invoke(app, ["--debug", "stats", "--store", str(missing)])
    assert debug.exit_code == 4
    assert "Traceback (most recent call last)" in debug.stderr and debug.stderr.rstrip().endswith(line)


def test_python_m_shelfgraph_cli_is_the_same_command(tmp_path: Path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "shelfgraph.cli", "stats", "--store", str(tmp_path / "none.db")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 4 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1


def test_usage_errors_keep_click_status_2(tmp_path: Path):
    assert runner.invoke(app, ["stats", "--bogus"]).exit_code == UsageError.exit_code == 2
    both = runner.invoke(app, ["eval", "questions", "--store", str(tmp_path / "g.db")])
    assert both.exit_code == 2 and "--questions FILE or --generate N" in error_line(both)


def test_a_malformed_input_file_is_status_4_naming_file_and_line(tmp_path: Path, demo_store: Path):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"input": "Folgers Coffee", "category": "Coffee", "target_scores": {}}\nnot json\n')
    result = runner.invoke(app, ["eval", "extraction", "--train", str(bad), "--test", str(bad)])
    assert result.exit_code == 4 and f"{bad}:2" in error_line(result)


def test_a_full_disk_says_what_to_do(tmp_path: Path, demo_store: Path):
    result = runner.invoke(app, ["export", "--store", str(demo_store), "--format", "jsonl", "--out", "/dev/full"])
    assert result.exit_code == 4
    assert "no space left on the device; free some space" in error_line(result)


def test_a_file_that_is_not_a_store_is_a_store_error(tmp_path: Path):
    fake = tmp_path / "graph.db"
    fake.write_text("not a database\n" * 100)
    result = runner.invoke(app, ["stats", "--store", str(fake)])
    assert result.exit_code == StoreError.exit_code == 5
    assert f"cannot read {fake}: file is not a database; check --store" in error_line(result)


def test_a_path_through_a_file_names_the_path(tmp_path: Path, demo_store: Path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    result = runner.invoke(app, ["export", "--store", str(demo_store), "--format", "jsonl",
                                 "--out", str(blocker / "out.jsonl")])
    assert result.exit_code == 4
    assert f"{blocker / 'out.jsonl'}: a part of the path is not a folder" in error_line(result)


def test_a_bug_is_an_internal_error_line(tmp_path: Path, demo_store: Path, monkeypatch: pytest.MonkeyPatch):
    def broken(self):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Ledger, "stats", broken)  # an injected bug
    result = runner.invoke(app, ["stats", "--store", str(demo_store)])
    assert result.exit_code == 1
    assert error_line(result) == ("error: internal error: ZeroDivisionError: division by zero "
                                  "(run with --debug for the traceback)")
    assert "ZeroDivisionError" in runner.invoke(app, ["--debug", "stats", "--store", str(demo_store)]).stderr


def test_ctrl_c_is_one_line_and_status_130(demo_store: Path, monkeypatch: pytest.MonkeyPatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Ledger, "stats", interrupted)
    result = runner.invoke(app, ["stats", "--store", str(demo_store)])
    assert result.exit_code == INTERRUPTED_EXIT == 130
    assert "interrupted; run the same command again" in error_line(result)


def test_an_unreachable_model_server_is_status_6_naming_it(tmp_path: Path, pairs: Path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = runner.invoke(app, ["eval", "synonyms", "--pairs", str(pairs), "--method", "agent", "--llm", url,
                                 "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == ModelError.exit_code == 6
    line = error_line(result)
    assert url in line and "shelfgraph serve-model" in line and "--llm" in line


@pytest.mark.parametrize("how", ["listing models", "a model call", "timeout from the environment"])
def test_a_hanging_model_server_fails_in_about_the_llm_timeout(tmp_path: Path, pairs: Path, how: str,
                                                              monkeypatch: pytest.MonkeyPatch):
    server = SilentServer()
    options = ["--llm-kind", "llama_cpp", "--model", "m"] if how == "a model call" else []
    if how == "timeout from the environment":
        monkeypatch.setenv("SHELFGRAPH_LLM_TIMEOUT", "1.5")
    else:
        options += ["--llm-timeout", "1.5"]
    try:
        started = time.monotonic()
        result = runner.invoke(app, ["eval", "synonyms", "--pairs", str(pairs), "--method", "agent",
                                     "--llm", server.url, *options, "--runs-dir", str(tmp_path / "runs")])
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert result.exit_code == 6 and server.connections
    assert 1.5 <= elapsed < 10, elapsed  # the default timeout is 120 s
    line = error_line(result)
    assert server.url in line and "Timeout" in line
    if how == "a model call":
        assert "--llm-timeout" in line


def test_ask_with_a_failing_model_answers_without_it_and_says_so(demo_store: Path):
    without = runner.invoke(app, ["ask", NO_CUE, "--store", str(demo_store), "--no-llm"])
    assert without.exit_code == 0 and not without.stderr
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["ask", NO_CUE, "--store", str(demo_store), "--llm", url])
    assert result.exit_code == 0
    assert result.stdout == without.stdout and "product(s) match" in result.stdout
    [note] = result.stderr.strip().splitlines()
    assert note.startswith("note: the model failed") and url in note and "model-free planner" in note
    as_json = runner.invoke(app, ["ask", NO_CUE, "--store", str(demo_store), "--llm", url, "--json"])
    assert json.loads(as_json.stdout)["notice"].startswith("the model failed")


def test_chat_with_a_hanging_model_asks_it_once_then_goes_on_without_it(demo_store: Path):
    server = SilentServer()
    try:
        started = time.monotonic()
        result = runner.invoke(app, ["chat", "--store", str(demo_store), "--llm", server.url, "--llm-timeout", "1"],
                               input=f"{NO_CUE}\nfolgers coffees?\n")
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert result.exit_code == 0 and elapsed < 10
    assert len(server.connections) == 1  # the failed model is not asked again
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: the model failed")]
    assert len(notes) == 2 and result.stdout.count("product(s) match") == 2


def test_permission_and_store_faults_this_machine_cannot_cause_are_named_too():
    """Tests run as root here, so permission errors and a busy or read-only store are built
    as the exceptions Python and SQLite raise for them."""
    import errno
    import sqlite3

    from shelfgraph.cli.failures import expected

    denied = expected(PermissionError(errno.EACCES, "Permission denied", "/srv/graph.db"))
    assert isinstance(denied, InputError) and str(denied).startswith("/srv/graph.db: permission denied")
    for message, hint in [("attempt to write a readonly database", "the store is read-only"),
                          ("database is locked", "busy in another process"),
                          ("database or disk is full", "free some space")]:
        failure = expected(sqlite3.OperationalError(message))
        assert isinstance(failure, StoreError) and hint in str(failure), message
    assert expected(RuntimeError("a bug")) is None
