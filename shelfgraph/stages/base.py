"""What the build knows about a step kind, as one object: a `Stage`.

The incremental engine (`pipeline.Build`) is the same for every kind; a stage tells it what
its units of work are, what its step learns from, and how the step's answers become facts.
A unit is a pydantic model: its dump is hashed to decide whether the unit is redone, and the
model itself is what `process` gets (the Ray engine alone turns it into JSON and back).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, Field

from ..models import Fact, Provenance
from ..steps import Step

if TYPE_CHECKING:
    from .inputs import BuildInputs

UnitT = TypeVar("UnitT", bound=BaseModel)


class UnitOutput(BaseModel):
    """What one unit produced: facts to assert, and facts it flags as wrong (id -> reason)."""

    key: str
    facts: list[Fact] = Field(default_factory=list)
    flagged: dict[str, str] = Field(default_factory=dict)


class Stage(ABC, Generic[UnitT]):
    """One step kind in the build. `process` runs where the step runs (this process or a Ray
    worker): a pure function of the built step and the units, so both engines store the same
    facts."""

    interface: ClassVar[type[Step]]  # the Step interface its methods implement; says the kind
    provenance_step: ClassVar[str]  # `Provenance.step` of the facts it asserts
    order: ClassVar[int]  # build order: a stage reads what the stages before it wrote
    unit: ClassVar[type[BaseModel]]  # one unit of work
    per_product: ClassVar[bool]  # one unit per product of the batch (else per type or value of the graph)

    def __init_subclass__(cls, *, interface: type[Step], provenance_step: str, order: int, unit: type[BaseModel],
                          per_product: bool, **kwargs: Any) -> None:
        """A stage says what it is in its class statement, e.g. `class TypeStage(Stage[ProductUnit],
        interface=TypeStep, provenance_step="taxonomy", order=10, unit=ProductUnit, per_product=True)`."""
        super().__init_subclass__(**kwargs)
        cls.interface, cls.provenance_step, cls.order = interface, provenance_step, order
        cls.unit, cls.per_product = unit, per_product

    @property
    def kind(self) -> str:
        return self.interface.kind

    @abstractmethod
    def units(self, inputs: BuildInputs) -> Iterable[tuple[str, UnitT | None]]:
        """(key, unit) for every unit the graph now has, whether or not it is already done,
        made as they are read (a million products' units never exist at once). A per-product
        stage yields every product of the batch, its unit None where it has nothing to do (its
        earlier work, if any, is retired)."""

    def training(self, inputs: BuildInputs) -> tuple:
        """The arguments of the step's `initialize` (by default the labelled products); the
        first is empty when there is nothing to learn from (the build notes that the step ran
        untrained)."""
        return (inputs.labelled,)

    @abstractmethod
    def process(self, step: Any, units: Sequence[UnitT], run_id: str, options: dict[str, Any]) -> list[UnitOutput]:
        """The step's answers for `units`, as one output per unit, in order."""

    def provenance(self, step: Step, run_id: str, **span: Any) -> Provenance:
        signature = step.signature()
        return Provenance(step=self.provenance_step, method=signature.method, model=signature.model,
                          prompt=signature.prompt, run_id=run_id, **span)
