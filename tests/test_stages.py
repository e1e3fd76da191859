"""The step kinds come from the stage modules, and a build builds each stage's step once."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfgraph import registry
from shelfgraph.buildrun import run_build
from shelfgraph.context import LLMConfig
from shelfgraph.errors import UsageError
from shelfgraph.pipeline import BuildConfig
from shelfgraph.stages import KINDS, STAGES


def test_the_kinds_and_their_order_are_the_stage_modules():
    assert KINDS == ("type", "hypernym", "relations", "imputation", "cleaning", "synonyms")
    assert [s.order for s in STAGES.values()] == sorted(s.order for s in STAGES.values())
    assert all(stage.interface.kind == kind for kind, stage in STAGES.items())
    # every kind has the three shipped methods (other tests register more, e.g. a scripted one)
    assert all({"agent", "baseline", "hybrid"} <= set(registry.methods(kind)) for kind in KINDS)
    with pytest.raises(UsageError, match="'typo': Input should be 'type', 'hypernym', 'relations', 'imputation', "
                                         "'cleaning' or 'synonyms'$"):
        BuildConfig.from_toml(None, steps={"typo": {"method": "baseline"}})


def test_a_build_builds_each_stage_step_once(tmp_path, demo_data: Path, monkeypatch):
    """Once to check the settings before anything is stored, and that same step runs the stage
    (it was built again for its signature and again in the worker)."""
    registry.methods("cleaning")  # the plugins are loaded before the registry is swapped
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    built = []

    def counted(context=None, **config):
        step = registry.create("cleaning", "baseline", context=context, **config)
        built.append(step)
        return step

    registry.register("cleaning", "counted", counted)
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("\n".join((demo_data / "catalog.jsonl").read_text().splitlines()[:10]) + "\n")
    config = BuildConfig(steps={"cleaning": {"method": "counted"}})
    summary, _ = run_build(tmp_path / "graph.db", [catalog], demo_data / "taxonomy", [],
                           [demo_data / "labelled.jsonl"], config, LLMConfig(), quiet=True)
    cleaning = next(s for s in summary["steps"] if s["step"] == "cleaning")
    assert cleaning["method"] == "counted" and cleaning["done"] == 10
    assert len(built) == 1
