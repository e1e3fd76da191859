"""The `Step` interfaces: one per AutoKnow step, each with agent, baseline and hybrid methods.

Every interface is batched (`predict`/`score` take a sequence), so an LLM agent can batch
its calls while a baseline simply loops. `initialize()` is the one place a step learns from
training data (spaCy's `Pipe.initialize`): baselines fit there, agents index demonstrations.
`signature()` names what a step's output depends on (method, model, prompt version): the
pipeline stores it in provenance and redoes work when it changes. `tuning_examples()` is the
other side of `initialize()` for LLM agents: the prompts the step would send for the same
training data, answered with the gold (`shelfgraph tune` fits an adapter on them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Sequence

from pydantic import BaseModel, Field

from .models import Product, TaxonomyNode

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

    def signature(self) -> Signature:
        return Signature(method=self.method)

    def to_disk(self, path: Path) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    def from_disk(self, path: Path) -> "Step":
        raise NotImplementedError(f"{type(self).__name__} cannot be loaded")

    def tuning_examples(self, train: Any) -> "list[TuneExample]":
        """Prompt and gold answer for each item of `train` (what `initialize` takes)."""
        raise NotImplementedError(f"{self.kind}/{self.method} cannot be tuned")


class TypeStep(Step):
    """Taxonomy enrichment, part 1: the product type phrase of each product."""

    kind = "type"

    def initialize(self, train: Sequence[Product]) -> None:
        """Learn from products whose type phrase is known (`attributes['Product Type']` or
        `product_type` found in the title)."""

    @abstractmethod
    def predict(self, products: Sequence[Product]) -> list[Extraction | None]: ...


class HypernymStep(Step):
    """Taxonomy enrichment, part 2: where a new type goes in an existing taxonomy."""

    kind = "hypernym"

    @abstractmethod
    def initialize(self, taxonomy: Sequence[TaxonomyNode]) -> None: ...

    @abstractmethod
    def rank(self, names: Sequence[str], k: int = 5) -> list[list[Scored]]:
        """Candidate parent node ids for each type name, best first."""


class RelationStep(Step):
    """Relation discovery: which attributes apply to a type, and how important each is."""

    kind = "relations"

    @abstractmethod
    def initialize(self, known: dict[str, list[str]], taxonomy: Sequence[TaxonomyNode] = ()) -> None:
        """`known` maps type names to the attributes known to apply to them."""

    @abstractmethod
    def predict(self, queries: Sequence[RelationQuery]) -> list[list[AttributeScore]]: ...


class ImputationStep(Step):
    """Data imputation: values of a type's attributes, found in the product's own text."""

    kind = "imputation"

    def initialize(self, train: Sequence[Product]) -> None:
        """Learn from products with gold attribute values."""

    @abstractmethod
    def predict(
        self, products: Sequence[Product], attributes: Sequence[Sequence[str]]
    ) -> list[list[Extraction]]:
        """For product i, values of `attributes[i]`; an attribute with no value is omitted."""


class CleaningStep(Step):
    """Data cleaning: how likely each (product, attribute, value) triple is wrong."""

    kind = "cleaning"

    def initialize(self, train: Sequence[Product]) -> None:
        """Learn from products whose attribute values are trusted."""

    @abstractmethod
    def score(self, triples: Sequence[Triple]) -> list[float | None]:
        """Probability that each triple is wrong; None where no score can be given."""


class SynonymStep(Step):
    """Synonym finding: how likely two types or two values mean the same."""

    kind = "synonyms"

    def initialize(self, train: Sequence[Pair]) -> None:
        """Learn from labelled pairs."""

    @abstractmethod
    def score(self, pairs: Sequence[Pair]) -> list[float | None]: ...
