"""What every hybrid shares: its two parts built by name through the registry, how often the
agent was asked, and the factory that checks a hybrid's settings.

`threshold` and `weight` are configuration, chosen on a validation split of TRAIN
(`scripts/tune_hybrids.py`; each module's DEFAULTS says on what); `prompt` and `adapter` (from
`shelfgraph tune`) go to the agent, `baseline` and `agent` are the parts' own configurations.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from shelfgraph import registry
from shelfgraph.context import StepContext
from shelfgraph.steps import Signature, Step

from .combine import blend


class Parts:
    """The two steps of a hybrid and how often the agent was asked."""

    def __init__(self, kind: str, context: StepContext, prompt: str | None, baseline: dict[str, Any] | None,
                 agent: dict[str, Any] | None, adapter: str | None, agent_defaults: dict[str, Any]):
        agent_config = {**agent_defaults, **(agent or {})}
        if prompt is not None:
            agent_config["prompt"] = prompt
        if adapter is not None:
            agent_config["adapter"] = adapter
        self.baseline = registry.create(kind, "baseline", context=context, **(baseline or {}))
        self.agent = registry.create(kind, "agent", context=context, **agent_config)
        self.items = 0  # items the hybrid was given
        self.asked = 0  # items the agent was asked about
        self.agent_s = 0.0

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        self.baseline.initialize(*args, **kwargs)
        self.agent.initialize(*args, **kwargs)

    def ask(self, call: Callable[[], Any], n: int) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.agent_s += time.perf_counter() - started
            self.asked += n

    def signature(self) -> Signature:
        agent = self.agent.signature()
        return Signature(method="hybrid", model=agent.model, prompt=agent.prompt)

    def stats(self) -> dict[str, Any]:
        return {"agent_asked": self.asked, "agent_share": round(self.asked / self.items, 3) if self.items else None,
                "agent_s_per_asked": round(self.agent_s / self.asked, 3) if self.asked else None}


class Hybrid:
    """The parts, initialisation, signature and usage counts of a hybrid."""

    def __init__(self, parts: Parts):
        self.parts = parts

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        self.parts.initialize(*args, **kwargs)

    def signature(self) -> Signature:
        return self.parts.signature()

    def stats(self) -> dict[str, Any]:
        return self.parts.stats()


class Weighted(Hybrid):
    """Hybrids that blend the two sides' scores with `weight` on the agent, or, given a `stack`
    fitted on validation (`shelfgraph.stacking`; cleaning, synonyms, hypernym, relations), combine them by it."""

    def __init__(self, parts: Parts, weight: float, stack: dict[str, float] | None = None):
        from shelfgraph.stacking import Stack

        super().__init__(parts)
        self.weight = weight
        self.stacked = bool(stack)
        self.combine = Stack(**stack) if stack else functools.partial(blend, weight=weight)

    def both(self, method: str, items: Sequence[Any], *args: Any) -> tuple[list[Any], list[Any]]:
        """The agent's and the baseline's answers to the same call, the agent's timed."""
        baseline = getattr(self.parts.baseline, method)(items, *args)
        self.parts.items += len(items)
        agent = self.parts.ask(lambda: getattr(self.parts.agent, method)(items, *args), len(items))
        return agent, baseline

    def blend_scores(self, items: Sequence[Any]) -> list[float | None]:
        agent, baseline = self.both("score", items)
        return [self.combine(a, b) for a, b in zip(agent, baseline)]


def registration(cls: type[Step], defaults: dict[str, Any],
                 agent_defaults: dict[str, Any] | None = None) -> Callable[[Callable[..., None]], None]:
    """The `register_steps` of a hybrid module: registers `cls` as the `hybrid` method of its
    kind, with `defaults` as its settings and `agent_defaults` under the agent's own."""
    kind = cls.kind

    def build(context: StepContext | None = None, prompt: str | None = None, baseline: dict[str, Any] | None = None,
              agent: dict[str, Any] | None = None, adapter: str | None = None, **settings: Any) -> Step:
        """The hybrid: its parts built by name, `settings` (threshold/weight) checked."""
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise TypeError(f"hybrid {kind} takes {', '.join(sorted(defaults))} (and prompt, adapter, baseline, "
                            f"agent), not {', '.join(unknown)}")
        parts = Parts(kind, context or StepContext(), prompt, baseline, agent, adapter, agent_defaults or {})
        return cls(parts, **settings)

    def register_steps(register: Callable[..., None]) -> None:
        register(kind, "hybrid", build, default_config=dict(defaults),
                 description=f"baseline and agent combined ({', '.join(defaults)} chosen on validation)")

    return register_steps
