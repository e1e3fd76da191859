"""Saved runs: written, loaded back by id or prefix, compared."""

from __future__ import annotations

import pytest

from shelfgraph.eval.runs import compare_runs, list_runs, load_run, save_run


def _rows(preds):
    return [{"id": f"p{i}", "gold": {"Brand": ["Acme"]}, "pred": pred} for i, pred in enumerate(preds)]


def test_save_load_compare(tmp_path):
    first = save_run(tmp_path, "extraction", {"method": "baseline"}, {"f1": 70.0, "VC": 3},
                     _rows([{"Brand": "Acme"}, {"Brand": "n/a"}]), extra={"prompt": "x@1#abc"})
    second = save_run(tmp_path, "extraction", {"method": "agent"}, {"f1": 75.5, "VC": 4},
                      _rows([{"Brand": "Acme"}, {"Brand": "Acme"}]))
    assert list_runs(tmp_path) == sorted([first, second])
    a = load_run(first.name, tmp_path)
    assert (a.task, a.config, a.extra["prompt"], len(a.predictions)) == ("extraction", {"method": "baseline"}, "x@1#abc", 2)
    assert load_run(second, tmp_path).id == second.name

    diff = compare_runs(a, load_run(second.name, tmp_path))
    assert diff["metrics"]["f1"] == {"a": 70.0, "b": 75.5, "delta": 5.5}
    assert diff["compared"] == 2
    assert [(c["key"], c["a"], c["b"]) for c in diff["changed"]] == [("p1", {"Brand": "n/a"}, {"Brand": "Acme"})]


def test_unknown_run_and_task_mismatch(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run 'nope'"):
        load_run("nope", tmp_path)
    a = load_run(save_run(tmp_path, "extraction", {}, {}, []), tmp_path)
    b = load_run(save_run(tmp_path, "type", {}, {}, []), tmp_path)
    with pytest.raises(ValueError, match="cannot compare"):
        compare_runs(a, b)
