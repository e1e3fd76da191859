"""Shared fixtures: the bundled demo data, the optional shared datasets, a private home."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def demo_data() -> Path:
    return DEMO


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared datasets at {SHARED_DATA} (only present in the shelfgraph workplace)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def shelfgraph_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own SHELFGRAPH_HOME so caches and logs never leak between tests."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("SHELFGRAPH_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def packaged_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once per test session (LLM tests pass it as
    `LLMConfig(model=str(path))` so each test's private home need not assemble it again)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from shelfgraph.llm.local import packaged_model_path

    return packaged_model_path(tmp_path_factory.mktemp("model-cache"))
