"""`shelfgraph review`: the queue (flagged, conflicting, low confidence), one key per decision
kept as a status change with who and when, corrections as new facts, and an export that the
eval loaders read as labels."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfgraph.eval.datasets import load_records
from shelfgraph.cli import app
from shelfgraph.ingest import ingest_paths
from shelfgraph.models import Fact, Provenance, attribute_predicate
from shelfgraph.review import Action, decide_fact, review_queue
from shelfgraph.store import REVIEW_COMMAND, Ledger

runner = CliRunner()
TITLE = "Door County Coffee, Cherry Crème, Flavored Coffee, Medium Roast, Ground Coffee, 10 oz Bag"


def _imputed(run_id: str, attribute: str, value: str, confidence: float) -> Fact:
    start = TITLE.index(value)
    return Fact(subject="demo-021", predicate=attribute_predicate(attribute), object=value, confidence=confidence,
                provenance=Provenance(step="imputation", method="baseline", run_id=run_id, source_field="title",
                                      start=start, end=start + len(value)))


@pytest.fixture
def store(tmp_path, demo_data) -> Path:
    """Two demo products ingested, and imputed facts about the coffee: one sure, one unsure,
    two values for Item form, and one cleaning flagged."""
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join((demo_data / "catalog.jsonl").read_text().splitlines(True)[:2]))
    path = tmp_path / "g.db"
    with Ledger(path) as ledger:
        run = ledger.start_run("build")
        ingest_paths(ledger, [catalog], run.id)
        facts = {"sure": _imputed(run.id, "Flavor", "Cherry Crème", 0.92),
                 "unsure": _imputed(run.id, "Roast type", "Medium Roast", 0.31),
                 "ground": _imputed(run.id, "Item form", "Ground Coffee", 0.81),
                 "flavored": _imputed(run.id, "Item form", "Flavored Coffee", 0.64),
                 "flagged": _imputed(run.id, "Net content", "10 oz", 0.88)}
        ledger.add_facts(facts.values())
        ledger.set_status([facts["flagged"].id], "rejected", run.id, "cleaning: p(wrong)=0.910")
        ledger.finish_run(run, {})
    return path


def _fact(ledger: Ledger, attribute: str, value: str) -> Fact:
    return next(f for f in ledger.facts(subject="demo-021", predicate=attribute_predicate(attribute), status=None)
                if f.object == value)


def test_the_queue_holds_flagged_then_conflicting_then_unsure_facts(store):
    with Ledger(store) as ledger:
        queue = review_queue(ledger)
    assert [(i.why, i.attribute, i.fact.object) for i in queue] == [
        ("flagged", "Net content", "10 oz"),
        ("conflict", "Item form", "Flavored Coffee"), ("conflict", "Item form", "Ground Coffee"),
        ("low_confidence", "Roast type", "Medium Roast")]
    assert queue[0].detail == "cleaning: p(wrong)=0.910" and queue[1].detail == "other values: 'Ground Coffee'"
    assert queue[0].product.title == TITLE


def test_accept_reject_and_correct_change_status_with_who_and_when_and_delete_nothing(store):
    with Ledger(store) as ledger:
        before = len(ledger.facts(status=None))
    keys = "a\nr\ns\nc\nMedium\n"  # accept the flagged size, reject one form, skip the other, correct the roast
    result = runner.invoke(app, ["review", "--store", str(store), "--who", "alice"], input=keys)
    assert result.exit_code == 0, result.output
    assert "accepted 1, rejected 1, corrected 1" in result.output
    with Ledger(store) as ledger:
        flagged, flavored = _fact(ledger, "Net content", "10 oz"), _fact(ledger, "Item form", "Flavored Coffee")
        ground, old = _fact(ledger, "Item form", "Ground Coffee"), _fact(ledger, "Roast type", "Medium Roast")
        new = _fact(ledger, "Roast type", "Medium")
        assert (flagged.status, flavored.status, ground.status, old.status, new.status) == (
            "active", "rejected", "active", "rejected", "active")
        accepted = ledger.fact_history(flagged.id)[-1]
        assert accepted["status"] == "active" and accepted["reason"] == "review: accepted by alice"
        review_run = ledger.run(accepted["run_id"])
        assert review_run.command == "review" and review_run.config == {"who": "alice"}
        assert review_run.started_at <= accepted["at"] <= review_run.finished_at
        assert ledger.fact_history(old.id)[-1]["reason"] == "review: corrected to 'Medium' by alice"
        assert ledger.fact_history(ground.id) == []  # skipped: no decision recorded
        p = new.provenance
        assert (p.step, p.method, p.run_id, new.confidence) == ("review", "human", review_run.id, 1.0)
        assert TITLE[p.start:p.end] == "Medium" and p.source_field == "title"
        assert len(ledger.facts(status=None)) == before + 1  # the correction; nothing deleted
        assert review_queue(ledger) == []  # decided facts leave the queue; the conflict is resolved
    again = runner.invoke(app, ["review", "--store", str(store)], input="q\n")
    assert again.exit_code == 0 and "nothing to review" in again.output


def test_quit_and_end_of_input_stop_and_the_reviewer_defaults_to_the_os_user(store):
    result = runner.invoke(app, ["review", "--store", str(store)], input="x\nc\n\na\nq\n")  # x: no such key; c: no value
    assert result.exit_code == 0, result.output
    assert "accepted 1, rejected 0, corrected 0" in result.output
    with Ledger(store) as ledger:
        flagged = _fact(ledger, "Net content", "10 oz")
        assert ledger.fact_history(flagged.id)[-1]["reason"] == f"review: accepted by {getpass.getuser()}"
        assert len(review_queue(ledger)) == 3  # the rest waits for the next session
    runner.invoke(app, ["review", "--store", str(store)], input="r\n")  # then the input ends
    with Ledger(store) as ledger:  # one form rejected: the other is no longer in conflict, and sure enough
        assert [i.fact.object for i in review_queue(ledger)] == ["Medium Roast"]


def test_the_export_gives_eval_the_reviewed_values_as_labels(store, tmp_path):
    runner.invoke(app, ["review", "--store", str(store), "--who", "bob"], input="a\nr\ns\nc\nMedium\n")
    out = tmp_path / "reviewed.jsonl"
    result = runner.invoke(app, ["review", "--store", str(store), "--export", str(out)])
    assert result.exit_code == 0 and "1 reviewed products written" in result.output
    [record] = load_records(out)
    assert (record.id, record.title, record.category) == ("demo-021", TITLE, "Coffee")
    # the catalogue's brand, the accepted size and the corrected roast; not the rejected form,
    # nor values nobody reviewed
    assert record.gold == {"Brand": ["Door County Coffee"], "Net content": ["10 oz"], "Roast type": ["Medium"]}


def test_review_of_a_missing_store_says_how_to_make_one(tmp_path):
    result = runner.invoke(app, ["review", "--store", str(tmp_path / "none.db")])
    assert result.exit_code == 4 and "does not exist" in result.stderr
    assert not (tmp_path / "none.db").exists()



def test_a_later_build_keeps_a_reviewers_decisions(tmp_path, demo_data):
    """Cleaning run again (a new threshold redoes its units) neither re-flags a fact a person
    accepted nor restores one a person rejected."""
    store, catalog = tmp_path / "g.db", tmp_path / "catalog.jsonl"
    catalog.write_text("".join((demo_data / "catalog.jsonl").read_text().splitlines(True)[:10]))

    def build(threshold: float) -> None:
        config = tmp_path / f"cleaning-{threshold}.toml"
        config.write_text(f"cleaning_threshold = {threshold}\n")
        result = runner.invoke(app, ["build", str(catalog), "--taxonomy", str(demo_data / "taxonomy"), "--labelled",
                                     str(demo_data / "labelled.jsonl"), "--method", "baseline", "--config",
                                     str(config), "--store", str(store), "--quiet"])
        assert result.exit_code == 0, result.output

    def status(fact: Fact) -> str:
        with Ledger(store, read_only=True) as ledger:
            return next(f.status for f in ledger.facts(subject=fact.subject, status=None) if f.id == fact.id)

    def decide(action: Action, fact: Fact) -> None:
        with Ledger(store) as ledger, ledger.recorded_run(REVIEW_COMMAND, {"who": "ana"}) as run:
            decide_fact(ledger, action, fact, run.id, "ana")

    build(0.5)
    with Ledger(store, read_only=True) as ledger:
        flagged = [f for f in ledger.facts(status="rejected") if f.provenance.step == "imputation"]
    assert len(flagged) >= 3, "the baseline's cleaning flags some values of the first ten products"
    accepted, rejected, others = flagged[0], flagged[1], flagged[2:]
    decide("accept", accepted)
    decide("reject", rejected)
    build(0.999)  # nothing is wrong enough now: cleaning un-flags what it had flagged ...
    assert status(accepted) == "active" and status(rejected) == "rejected"
    assert all(status(fact) == "active" for fact in others)
    build(0.001)  # ... and now everything is: cleaning flags every value it judges
    assert status(accepted) == "active" and status(rejected) == "rejected"
    assert all(status(fact) == "rejected" for fact in others)
