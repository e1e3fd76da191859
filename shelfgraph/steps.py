"""What every step shares: the `Step` base class and the values steps exchange (Extraction,
Pair, Triple...). Each kind's own interface (`ImputationStep`, `SynonymStep`...) lives in its
stage module, `shelfgraph/stages/<kind>.py`, with the rest of what the build knows about it.

Every interface is batched (`predict`/`score` take a sequence), so an LLM agent can batch
its calls while a baseline simply loops. `initialize()` is the one place a step learns from
training data (spaCy's `Pipe.initialize`): baselines fit there, agents index demonstrations.
`signature()` names what a step's output depends on (method, model, prompt version): the
pipeline stores it in provenance and redoes work when it changes. `tuning_examples()` is the
other side of `initialize()` for LLM agents: the prompts the step would send for the same
training data, answered with the gold (`shelfgraph tune` fits an adapter on them).
"""

from __future__ import annotations

from abc import ABC
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from .models import Product

if TYPE_CHECKING:
    from .tuning.example import TuneExample


class NotEnoughData(ValueError):
    """A step cannot learn from the training data it was given (none, one class, too few).

    Raised by `initialize()` with a one-line reason; the pipeline then skips the step's stage
    and records the reason as a note, instead of failing a build whose other steps can run."""


class Extraction(BaseModel):
    """A value found in a product's text. `field/start/end` locate it exactly (grounding)."""

    value: str
    attribute: str | None = None
    field: str | None = None
    start: int | None = None
    end: int | None = None
    confidence: float | None = None


class Scored(BaseModel):
    """A ranked candidate (a taxonomy node id, an attribute name...) with its score."""

    label: str
    score: float | None = None


class AttributeScore(BaseModel):
    attribute: str
    applicable: float  # probability-like score that the attribute applies to the type
    importance: float | None = None


class RelationQuery(BaseModel):
    """A product type whose applicable attributes are wanted, with whatever context exists."""

    type_name: str
    path: list[str] = Field(default_factory=list)  # ancestor names, root first
    products: list[Product] = Field(default_factory=list)


class Triple(BaseModel):
    """(product text, attribute, value) for cleaning: is this value wrong for this product?"""

    product: Product
    attribute: str
    value: str


class Pair(BaseModel):
    """Two product types or two values of one attribute: do they mean the same?"""

    a: str
    b: str
    kind: Literal["type", "value"] = "value"
    attribute: str | None = None
    label: int | None = None


class Signature(BaseModel):
    method: str
    model: str | None = None
    prompt: str | None = None  # name@version#hash


class Step(ABC):
    kind: ClassVar[str]  # the interface's step kind; `shelfgraph.stages` has one stage per kind
    method: str = "baseline"
    # Units the build hands it at a time unless the build config says: sized for LLM calls. A
    # step that vectorises over a batch (the CRFs, the cleaner) asks for more, so its fixed
    # cost per call (numpy steps per token, an encoder call) is paid per hundreds of products.
    batch_size: ClassVar[int] = 16

    def signature(self) -> Signature:
        return Signature(method=self.method)

    def to_disk(self, path: Path) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    def from_disk(self, path: Path) -> "Step":
        raise NotImplementedError(f"{type(self).__name__} cannot be loaded")

    def tuning_examples(self, train: Any) -> "list[TuneExample]":
        """Prompt and gold answer for each item of `train` (what `initialize` takes)."""
        raise NotImplementedError(f"{self.kind}/{self.method} cannot be tuned")
