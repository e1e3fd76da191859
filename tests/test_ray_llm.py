"""Agents on Ray workers call the served model the build names (`--llm URL --api-key KEY`):
the LLM config, its key too, travels with the stage spec to every worker."""

from __future__ import annotations

import json

import pytest
from llm_support import start_llama_server, stop, type_agent_build

from shelfgraph.models import PRODUCT_TYPE
from shelfgraph.store import Ledger

pytest.importorskip("ray", reason="ray is not installed: pip install 'shelfgraph[ray]'")

KEY = "sk-ray-test-41d2"  # the server refuses calls without it: a worker missing it fails the build


@pytest.fixture(scope="module")
def keyed_server(packaged_gguf, tmp_path_factory):
    process, url = start_llama_server(packaged_gguf, tmp_path_factory.mktemp("keyed") / "server.log", api_key=KEY)
    yield url
    stop(process)


@pytest.mark.timeout(900)
def test_a_ray_worker_agent_calls_the_served_model_with_its_key(keyed_server, demo_data, tmp_path):
    store = tmp_path / "graph.db"
    result = type_agent_build(store, demo_data, tmp_path, keyed_server, "--api-key", KEY,
                              "--engine", "ray", "--workers", "1")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["steps"][0]["step"] == "type" and summary["steps"][0]["done"] == 1
    with Ledger(store) as ledger:
        [typed] = [f for f in ledger.facts(predicate=PRODUCT_TYPE) if f.provenance.method == "agent"]
    assert typed.provenance.model == "gemma-3-270m-q4_k_m"  # the served model answered, from the worker
