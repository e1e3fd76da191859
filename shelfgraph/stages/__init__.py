"""The step kinds of the build, one module each: a module with a `STAGE` says everything the
build knows about its kind. The list of kinds, their build order and `StepKind` are read from
these modules here, once; adding a kind is adding a module (with its Step interface and the
steps that implement it)."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Literal

from .base import Stage, UnitOutput


def _discover() -> dict[str, Stage]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        stage = getattr(importlib.import_module(f"{__name__}.{info.name}"), "STAGE", None)
        if stage is not None:
            found.append(stage)
    return {stage.kind: stage for stage in sorted(found, key=lambda s: s.order)}


STAGES: dict[str, Stage] = _discover()  # kind -> its stage, in build order
KINDS: tuple[str, ...] = tuple(STAGES)
StepKind = Literal[KINDS]  # type: ignore[valid-type]  # a pydantic field of this type accepts a kind only

__all__ = ["KINDS", "STAGES", "Stage", "StepKind", "UnitOutput"]
