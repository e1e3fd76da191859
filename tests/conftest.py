"""Shared fixtures: a temporary SHELFGRAPH_HOME for every test, and the shared datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def shelfgraph_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("shelfgraph-home")
    monkeypatch.setenv("SHELFGRAPH_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` (the public datasets); tests using it skip when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"shared datasets not found at {SHARED_DATA} (see DEVELOPERS.md, 'Data and evaluation')")
    return SHARED_DATA
