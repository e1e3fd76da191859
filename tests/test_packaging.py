"""The wheel installs one top-level package, `shelfgraph`, with the project's other folders
inside it, and works from there: a real wheel built by pip from a copy of this checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from shelfgraph.tuning.manifest import bundled_steps

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("shelfgraph", "agents", "baselines", "eval", "hybrids", "prompts", "retrieval", "data",
           "pyproject.toml", "setup.py", "README.md", "LICENSE")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy, so the checkout gets no build/ or egg-info folders."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(out), str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    return next(out.glob("shelfgraph-*.whl"))


def test_the_wheel_has_one_top_level_package_with_the_parts_inside(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"shelfgraph", wheel.name.split("-py3")[0] + ".dist-info"}
    for inside in ("shelfgraph/agents/__init__.py", "shelfgraph/baselines/crf.py", "shelfgraph/eval/bench/__init__.py",
                   "shelfgraph/retrieval/index.py", "shelfgraph/hybrids/combine.py", "shelfgraph/prompts/__init__.py", "shelfgraph/py.typed"):
        assert inside in names
    assert any(n.startswith("shelfgraph/prompts/imputation/") and n.endswith(".j2") for n in names)
    assert any(n.startswith("shelfgraph/web/templates/") for n in names)
    for step in bundled_steps():  # each shipped adapter, with the terms it ships under
        assert {f"shelfgraph/adapters/{step}/manifest.json", f"shelfgraph/adapters/{step}/adapter.gguf"} <= set(names)
    assert "shelfgraph/adapters/LICENSE.md" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "agents = shelfgraph.agents:register_steps" in text
    assert "baselines = shelfgraph.baselines:register_steps" in text
    assert "hybrids = shelfgraph.hybrids:register_steps" in text


def test_the_installed_wheel_imports_its_parts_and_shadows_nothing(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                                str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")} - {"bin"} == {"shelfgraph"}
    # A user's own `agents` package must still be the one `import agents` finds.
    (tmp_path / "mine" / "agents").mkdir(parents=True)
    (tmp_path / "mine" / "agents" / "__init__.py").write_text("OWNER = 'the user'\n")
    probe = (
        "import agents, shelfgraph, shelfgraph.agents, shelfgraph.prompting as p\n"
        "print(agents.OWNER)\n"
        "print(shelfgraph.__file__)\n"
        "print(shelfgraph.agents.__file__)\n"
        "print(len(p.prompt_names()) > 0)\n"
    )
    result = subprocess.run([sys.executable, "-P", "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{target}:{tmp_path / 'mine'}",
                                              "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    owner, core, part, prompts = result.stdout.split("\n")[:4]
    assert owner == "the user"
    assert core.startswith(str(target)) and part.startswith(str(target / "shelfgraph" / "agents"))
    assert prompts == "True"
