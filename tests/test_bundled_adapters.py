"""The adapters that ship with shelfgraph (shelfgraph/adapters/STEP): each opens by its name
`bundled:STEP`, was tuned on the packaged model and on its prompt file as the file is now (an
edited prompt would orphan it), is small and ships one format. A step none ships for is
refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfgraph.context import StepContext
from shelfgraph.errors import UsageError
from shelfgraph.pipeline import BuildConfig
from shelfgraph.prompting import load_prompt
from shelfgraph.registry import create
from shelfgraph.tuning.manifest import BUNDLED, BUNDLED_DIR, bundled_steps, model_sha256, open_adapter

SHIPPED = bundled_steps()
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "data" / "demo" / "build.toml"


@pytest.mark.parametrize("step", SHIPPED)
def test_a_shipped_adapter_fits_the_packaged_model_and_its_prompt_file(step, packaged_gguf):
    adapter = open_adapter(BUNDLED + step)
    manifest = adapter.manifest
    assert manifest.step == step and adapter.folder == BUNDLED_DIR / step
    adapter.check_base(model_sha256(packaged_gguf), "the packaged model")
    assert load_prompt(manifest.prompt_name).ref == manifest.prompt
    assert adapter.gguf.stat().st_size < 10 * 2**20 and not adapter.peft.exists()  # one format in git
    agent = create(step, "agent", adapter=BUNDLED + step)  # the prompt follows the adapter
    assert agent.adapter == BUNDLED_DIR / step and agent.prompt.ref == manifest.prompt


def test_a_step_without_a_shipped_adapter_is_refused_naming_those_that_ship():
    with pytest.raises(UsageError, match="no adapter ships for step 'nope' \\(shipped: "):
        open_adapter("bundled:nope")


def test_the_demo_build_runs_the_shipped_type_adapter_whatever_the_method():
    """`make demo` passes data/demo/build.toml: its type step is the hybrid, whose agent runs
    `bundled:type`, even where the command line asks every other step for the baseline."""
    steps = BuildConfig.from_toml(DEMO_CONFIG, method="baseline").build_steps(StepContext())
    assert "type" in SHIPPED and steps["relations"].method == "baseline"
    assert steps["type"].method == "hybrid" and steps["type"].parts.agent.adapter == BUNDLED_DIR / "type"
