"""Step registry: implementations register a factory by (step kind, method name).

Like spaCy's factories and llm's plugin hooks: `agents`, `baselines` and `hybrids` declare an
entry point in the `shelfgraph.steps` group whose function receives `register`; they never
touch a global dict. Entry points load on first lookup, so importing shelfgraph stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

from .context import StepContext
from .stages import STAGES, StepKind
from .steps import Step

Factory = Callable[..., Step]


@dataclass(frozen=True)
class StepFactory:
    kind: StepKind
    method: str
    factory: Factory
    default_config: dict[str, Any] = field(default_factory=dict)
    description: str = ""


class UnknownStepError(LookupError):
    pass


_FACTORIES: dict[tuple[str, str], StepFactory] = {}
_loaded = False


def register(
    kind: StepKind, method: str, factory: Factory, *, default_config: dict[str, Any] | None = None,
    description: str = "",
) -> None:
    """Register `factory(**config) -> Step` as `method` for step `kind`."""
    if kind not in STAGES:
        raise ValueError(f"unknown step kind {kind!r}; valid: {', '.join(STAGES)}")
    key = (kind, method)
    existing = _FACTORIES.get(key)
    if existing is not None and existing.factory is not factory:
        raise ValueError(f"step {kind}/{method} is already registered by {existing.factory!r}")
    _FACTORIES[key] = StepFactory(kind, method, factory, dict(default_config or {}), description)


def _load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for entry in entry_points(group="shelfgraph.steps"):
        entry.load()(register)


def methods(kind: StepKind) -> list[str]:
    _load_plugins()
    return sorted(method for k, method in _FACTORIES if k == kind)


def get_factory(kind: StepKind, method: str) -> StepFactory:
    _load_plugins()
    try:
        return _FACTORIES[(kind, method)]
    except KeyError:
        valid = ", ".join(methods(kind)) or "none registered"
        raise UnknownStepError(f"no method {method!r} for step {kind!r}; valid: {valid}") from None


def create(kind: StepKind, method: str, context: StepContext | None = None, **config: Any) -> Step:
    """Build a step; `config` is merged onto the factory's defaults. Unknown keys are an error.

    Every factory is called as `factory(context=..., **config)`: the context says where the
    model, the caches and the retrieval index live."""
    entry = get_factory(kind, method)
    merged = {**entry.default_config, **config}
    step = entry.factory(context=context or StepContext(), **merged)
    interface = STAGES[kind].interface
    if not isinstance(step, interface):
        raise TypeError(f"{kind}/{method} built {type(step).__name__}, not a {interface.__name__}")
    step.method = method
    return step
