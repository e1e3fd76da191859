"""Discover step implementations inside a package: every module with `register_steps`."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Callable


def register_package_steps(package: ModuleType, register: Callable[..., None]) -> None:
    """Call `register_steps(register)` of each module of `package` (sorted by name)."""
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        hook = getattr(module, "register_steps", None)
        if hook is not None:
            hook(register)
