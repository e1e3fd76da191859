"""shelfgraph: grow a product knowledge graph from a retail catalogue.

    import shelfgraph as sg
    g = sg.open("graph.db")
    run = g.build("catalog.jsonl", taxonomy="taxonomy", method="hybrid")
    g.ask("Which coffees are decaf?").text
    values = sg.extract(records, method="baseline", labelled="labelled.jsonl")

docs/api.md is the guide. Names are imported on first use, so `import shelfgraph` stays instant.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# A source checkout keeps agents/, baselines/, eval/, hybrids/, prompts/ and retrieval/ beside
# this package (the project's layout); a wheel installs them inside it (setup.py). Either way
# they import as shelfgraph.agents and so on, never as top-level names that shadow others.
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "setup.py").is_file() and (_CHECKOUT / "agents" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))

if TYPE_CHECKING:
    from .api import Graph, open
    from .extraction import ExtractedValue, extract

__all__ = ["Graph", "ExtractedValue", "__version__", "extract", "open"]
_HOMES = {"Graph": "api", "open": "api", "extract": "extraction", "ExtractedValue": "extraction"}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("shelfgraph")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "0+unknown"
        globals()["__version__"] = found
        return found
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
