"""Optional extras: the heavy parts a plain `pip install shelfgraph` leaves out.

Each feature that needs one calls `require(extra, feature)` before importing it, so a missing
package is one line saying which extra to install, not an ImportError deep in a traceback.
"""

from __future__ import annotations

import importlib.util

from .errors import UsageError

# extra name (as in pyproject.toml) -> the modules it provides
EXTRAS: dict[str, tuple[str, ...]] = {
    "ray": ("ray",),
    "langchain": ("langchain_core",),
    "rdf": ("rdflib",),
    "plots": ("matplotlib",),
    "server": ("fastapi", "uvicorn", "sse_starlette", "starlette_context"),
    "tune": ("transformers", "peft", "gguf"),
}
# Said with the install line where an extra needs more than pip's defaults.
NOTES = {"tune": " (keep torch==2.13.0 pinned on the same line, or pip may swap in a CUDA build)"}


class MissingExtra(UsageError, ImportError):
    """An optional package is not installed. An ImportError too, so `import` users can catch it."""


def require(extra: str, feature: str) -> None:
    """Raise MissingExtra naming the extra to install when any of its modules is missing."""
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(f"{feature} needs {', '.join(missing)}: "
                           f"pip install 'shelfgraph[{extra}]'{NOTES.get(extra, '')}")
