"""The layers hold: the core (`shelfgraph/`) never imports `retrieval/`, `eval/`, `agents/` or
`baselines/`; only the CLI, which knows everything, wires them in (docs/architecture.md)."""

from __future__ import annotations

import ast

from conftest import ROOT

OUTER = ("retrieval", "eval", "agents", "baselines")


def _imported(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_core_imports_no_outer_package():
    core = ROOT / "shelfgraph"
    found = {f"{path.relative_to(ROOT)} imports {name}"
             for path in core.rglob("*.py") if core / "cli" not in path.parents
             for name in _imported(path) if name.split(".")[0] in OUTER}
    assert not found, sorted(found)
