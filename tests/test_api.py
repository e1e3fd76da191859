"""The Python API: docs/api.md's examples run as written, on the bundled demo data; `import
shelfgraph` stays instant; the version and `py.typed` ship."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shelfgraph.models import Product

from conftest import ROOT


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


@pytest.fixture
def demo_folder(tmp_path, demo_data, monkeypatch) -> Path:
    """The docs' paths (data/demo/...) in a fresh folder: 12 catalogue products (coffees
    included) and every 8th labelled example, so the baseline trains in seconds."""
    demo = tmp_path / "data" / "demo"
    demo.mkdir(parents=True)
    (demo / "catalog.jsonl").write_text("".join((demo_data / "catalog.jsonl").read_text().splitlines(True)[:12]))
    (demo / "labelled.jsonl").write_text("".join((demo_data / "labelled.jsonl").read_text().splitlines(True)[::8]))
    (demo / "taxonomy").symlink_to(demo_data / "taxonomy")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_examples_of_docs_api_run_and_do_what_they_say(demo_folder):
    blocks = python_blocks((ROOT / "docs" / "api.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 7
    names: dict = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), names)  # noqa: S102 - our own documentation
    run = names["run"]
    assert run.status == "finished" and run.command == "build"
    assert run.summary["facts_after"] > run.summary["facts_before"]
    assert names["answer"].product_ids == ["demo-021"]
    assert [p.id for p in names["door_county"]] == ["demo-021"]
    assert "demo-021" in [p.id for p in names["coffees"]]
    table, frame = names["table"], names["frame"]
    assert table.num_rows == run.summary["facts_after"]  # one row per active fact
    assert {"confidence", "step", "method", "run_id", "source_field", "start", "end", "prompt"} <= set(frame.columns)
    assert len(frame) >= table.num_rows
    title = "Lavazza Super Crema Whole Bean Coffee Blend, Medium Roast, 2.2 lb Bag"
    assert names["values"], "the baseline found nothing in a plain coffee title"
    for value in names["values"]:
        assert value.field == "title" and title[value.start:value.end] == value.value
        assert value.method == "baseline" and 0 <= value.confidence <= 1
    assert Path("out/reviewed.jsonl").read_text().count("\n") == 1


def test_import_is_instant_and_names_load_on_first_use():
    code = ("import sys, shelfgraph as sg\n"
            "before = sorted(m for m in sys.modules if m.startswith('shelfgraph'))\n"
            "sg.Graph, sg.extract\n"
            "print(before, 'shelfgraph.api' in sys.modules, callable(sg.extract), 'pydantic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.split() == ["['shelfgraph']", "True", "True", "True"]


def test_version_comes_from_the_installed_metadata_and_py_typed_ships():
    import shelfgraph

    assert shelfgraph.__version__ == importlib.metadata.version("shelfgraph")
    assert (ROOT / "shelfgraph" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["shelfgraph"]
    with pytest.raises(AttributeError):
        shelfgraph.no_such_name  # noqa: B018


def test_extract_takes_products_and_refuses_a_bad_record_by_its_index():
    import shelfgraph as sg

    with pytest.raises(ValueError, match=r"records\[1\]: missing title"):
        sg.extract([Product(id="a", title="Aveda Shampoo"), {"id": "b"}], attributes=["Brand"])
