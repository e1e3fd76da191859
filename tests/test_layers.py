"""The layers hold: the core (`shelfgraph/`) never imports `retrieval/`, `eval/`, `agents/`,
`baselines/` or `hybrids/`; only the CLI, which knows everything, wires them in (docs/architecture.md)."""

from __future__ import annotations

import ast

from conftest import ROOT

OUTER = ("retrieval", "eval", "agents", "baselines", "hybrids")  # each imports as shelfgraph.<name>


def _imported(path) -> set[str]:
    """Absolute names of what `path` imports (relative imports resolved)."""
    package = list(path.relative_to(ROOT).with_suffix("").parts)[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def _outer(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "shelfgraph" and len(parts) > 1 and parts[1] in OUTER


def test_the_core_imports_no_outer_package():
    core = ROOT / "shelfgraph"
    found = {f"{path.relative_to(ROOT)} imports {name}"
             for path in core.rglob("*.py") if core / "cli" not in path.parents
             for name in _imported(path) if _outer(name)}
    assert not found, sorted(found)
