"""The validation share `shelfgraph tune` holds out is the one `scripts/tune_hybrids.py
--valid-share` validates the hybrid on: a hybrid tuned with a tuned agent is scored on
items its adapter never saw."""

import importlib.util
from pathlib import Path

from shelfgraph.tuning.split import valid_split

ROOT = Path(__file__).resolve().parents[1]


def _tune_hybrids():
    spec = importlib.util.spec_from_file_location("tune_hybrids", ROOT / "scripts" / "tune_hybrids.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_split_is_seeded_disjoint_complete_and_keeps_the_order():
    items = list(range(100))
    kept, held = valid_split(items, 0.2, 0)
    assert len(held) == 20 and sorted(kept + held) == items
    assert kept == sorted(kept) and held == sorted(held)
    assert valid_split(items, 0.2, 0) == (kept, held)
    assert valid_split(items, 0.2, 1)[1] != held
    assert len(valid_split(items[:2], 0.9, 0)[0]) == 1  # at least one item each side


def test_tune_hybrids_validates_on_the_items_tune_held_out():
    items = [f"record {i}" for i in range(50)]
    split = _tune_hybrids().split
    assert split(items, 0.2, 3) == valid_split(items, 0.2, 3)
    fit, validation = split(items)  # without a share: every 5th item, as before
    assert validation == items[::5] and len(fit) == 40
