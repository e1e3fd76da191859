"""The typed query, the only thing ever executed against the graph, and what comes back.

A question never reaches SQL as text: the planner turns it into a `GraphQuery` whose
product types, attributes and values are taken from the graph's own vocabulary, and the
executor runs it with bound parameters over a read-only connection.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal["eq", "ne", "lt", "le", "gt", "ge"]
Intent = Literal["list", "count", "group"]
TYPE_KEY = "product_type"  # `group_by` value that groups by product type


class Filter(BaseModel):
    """Products whose value of any of `attributes` satisfies `op`.

    eq/ne: the value is one of `values` (case-insensitive). lt/le/gt/ge: the value's leading
    number compared with `number`, only among values in `unit` when one is given (no unit
    conversion)."""

    model_config = ConfigDict(extra="forbid")

    attributes: list[str] = Field(min_length=1)
    op: Op = "eq"
    values: list[str] = Field(default_factory=list)
    number: float | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "Filter":
        if self.op in ("eq", "ne") and not self.values:
            raise ValueError(f"a {self.op!r} filter needs values")
        if self.op not in ("eq", "ne") and self.number is None:
            raise ValueError(f"a {self.op!r} filter needs a number")
        return self

    def describe(self) -> str:
        name = " or ".join(self.attributes)
        if self.op in ("eq", "ne"):
            values = " or ".join(repr(v) for v in self.values)
            return f"{name} {'is not' if self.op == 'ne' else 'is'} {values}"
        symbol = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}[self.op]
        return f"{name} {symbol} {self.number:g}{' ' + self.unit if self.unit else ''}"


class GraphQuery(BaseModel):
    """Which products (types, filters, title words), and what to return (list, count or
    counts per value of `group_by`; `show` attributes per product; at most `limit`)."""

    model_config = ConfigDict(extra="forbid")

    product_types: list[str] = Field(default_factory=list, description="any of these types; empty: all")
    filters: list[Filter] = Field(default_factory=list, description="all must hold")
    title_terms: list[str] = Field(default_factory=list, description="words every title must contain")
    intent: Intent = "list"
    group_by: str | None = Field(None, description=f"an attribute name, or {TYPE_KEY!r}")
    show: list[str] = Field(default_factory=list, description="attributes to report per product")
    limit: int | None = Field(None, ge=1, le=10_000)
    offset: int = Field(0, ge=0, description="products skipped before the first returned (a later page)")

    @model_validator(mode="after")
    def _check(self) -> "GraphQuery":
        if self.intent == "group" and not self.group_by:
            raise ValueError("a 'group' query needs group_by")
        return self

    def describe(self) -> str:
        parts = [" or ".join(self.product_types) or "all products"]
        parts += [f.describe() for f in self.filters]
        parts += [f"title contains {t!r}" for t in self.title_terms]
        return "; ".join(parts)


class Citation(BaseModel):
    """A stored fact an answer rests on, with the text span it was read from."""

    fact_id: str
    product_id: str
    predicate: str
    value: str
    method: str
    source_field: str | None = None
    start: int | None = None
    end: int | None = None
    evidence: str | None = None  # source_field text[start:end]


class Row(BaseModel):
    product_id: str
    title: str
    product_type: str | None = None
    values: dict[str, list[str]] = Field(default_factory=dict)  # filtered and shown attributes
    citations: list[Citation] = Field(default_factory=list)


class Group(BaseModel):
    value: str
    count: int
    product_ids: list[str]


class QueryResult(BaseModel):
    query: GraphQuery
    total: int  # matching products before `offset` and `limit`
    rows: list[Row]
    groups: list[Group] = Field(default_factory=list)

    @property
    def product_ids(self) -> list[str]:
        return [row.product_id for row in self.rows]


class Passage(BaseModel):
    """A sentence of a product's description, review or Q&A found by retrieval."""

    product_id: str
    title: str
    source_field: str
    start: int
    end: int
    text: str
    score: float


class Answer(BaseModel):
    question: str
    kind: Literal["graph", "text", "not_found"]
    text: str
    query: GraphQuery | None = None
    product_ids: list[str] = Field(default_factory=list)  # every product the answer names
    total: int | None = None  # products matching a graph query, named or only counted
    titles: dict[str, str] = Field(default_factory=dict)  # product id -> title
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    unknown_terms: list[str] = Field(default_factory=list)
    notice: str | None = None  # how the answer was reached when not as asked (e.g. without the model)
