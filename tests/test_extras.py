"""Optional extras: a feature whose packages are missing says, in one line, which extra to install.

A missing package is simulated the way Python itself marks one unimportable (sys.modules[name] =
None); everything else is the real CLI on the bundled demo data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.extras import EXTRAS, MissingExtra, require

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def test_every_extra_is_declared_in_pyproject():
    import tomllib

    declared = tomllib.loads((DEMO.parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(declared)
    assert declared["all"] == [f"shelfgraph[{','.join(EXTRAS)}]"]


def test_a_missing_package_names_the_extra_and_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdflib", None)
    with pytest.raises(MissingExtra, match=r"RDF export needs rdflib: pip install 'shelfgraph\[rdf\]'") as raised:
        require("rdf", "RDF export")
    assert isinstance(raised.value, ImportError)


def test_installed_extras_pass():
    for extra in EXTRAS:
        require(extra, extra)  # `make test` installs every extra


def test_export_without_the_rdf_extra_is_one_line_and_exit_2(tmp_path, monkeypatch):
    store = tmp_path / "g.db"
    built = CliRunner().invoke(app, ["ingest", str(DEMO / "catalog.jsonl"), "--store", str(store)])
    assert built.exit_code == 0, built.output
    monkeypatch.setitem(sys.modules, "rdflib", None)
    result = CliRunner().invoke(app, ["export", "--store", str(store), "--format", "turtle",
                                      "--out", str(tmp_path / "g.ttl")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: RDF export needs rdflib: pip install 'shelfgraph[rdf]'")
    assert not (tmp_path / "g.ttl").exists()
