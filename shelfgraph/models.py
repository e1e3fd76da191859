"""Pydantic models at every seam: products in, facts out, with provenance.

A `Fact` is one assertion about the graph (subject, predicate, object) plus where it came
from. Its id is a content hash of what identifies it, so writing the same fact twice
stores it once; the run that wrote it and its confidence are not part of its identity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FactStatus = Literal["active", "rejected", "retracted"]

# Predicates with a fixed meaning. Attribute values use `attribute_predicate(name)`.
PRODUCT_TYPE = "product_type"  # the predicate: product -> its type (a fact of the type step)
# The attribute a labelled record names its type phrase with (WDC-PAVE annotates it): what the
# type step learns from and is scored on. Not a predicate: it is never stored as `attr:`.
TYPE_ATTRIBUTE = "Product Type"
BROADER = "broader"  # type -> parent taxonomy node id
APPLICABLE = "applicable_attribute"  # type -> attribute name
SAME_AS = "same_as"  # type/value -> its canonical synonym
ATTRIBUTE_PREFIX = "attr:"
IMPORTANCE_PREFIX = "importance:"  # type -> importance score (object) of an attribute


def attribute_predicate(attribute: str) -> str:
    return f"{ATTRIBUTE_PREFIX}{attribute}"


# Node ids. Types, attribute values, taxonomy nodes and attributes are nodes named by a
# prefix; a product's node id is its own id, so the facts of every ordinary product keep the
# subject (and the fact ids) they always had. A product id that starts with a reserved prefix
# is escaped with `product:`, so no catalogue row can take over another node's facts.
PRODUCT_PREFIX = "product:"
TYPE_PREFIX = "type:"
VALUE_PREFIX = "value:"
TAXONOMY_PREFIX = "taxonomy:"  # taxonomy nodes and attributes are nodes only in exports
ATTRIBUTE_NODE_PREFIX = "attribute:"
RESERVED_PREFIXES = (TYPE_PREFIX, VALUE_PREFIX, TAXONOMY_PREFIX, ATTRIBUTE_NODE_PREFIX, PRODUCT_PREFIX)


def product_subject(product_id: str) -> str:
    """The node id a product's facts are stated about (its id, escaped when reserved)."""
    return PRODUCT_PREFIX + product_id if product_id.startswith(RESERVED_PREFIXES) else product_id


def product_id_of(subject: str) -> str:
    """The product id of a product fact's subject: the inverse of `product_subject`."""
    return subject.removeprefix(PRODUCT_PREFIX)


def type_subject(type_name: str) -> str:
    """Subject id of a product type: types are graph nodes of their own."""
    return f"{TYPE_PREFIX}{normalise_label(type_name)}"


def value_subject(attribute: str, value: str) -> str:
    """Node id of an attribute value (synonym facts are about values). `%` and `:` in the
    attribute are percent-escaped, so the first `:` after the prefix always ends the attribute
    ("a:b" = "c" and "a" = "b:c" were one node before); other attributes read as they always did."""
    return f"{VALUE_PREFIX}{attribute.replace('%', '%25').replace(':', '%3A')}:{value}"


def node_label(node_id: str) -> str:
    """What a node id names, for people: a type's name, a value's text, a product's id."""
    if node_id.startswith(TYPE_PREFIX):
        return node_id[len(TYPE_PREFIX):]
    if node_id.startswith(VALUE_PREFIX):
        return node_id[len(VALUE_PREFIX):].partition(":")[2]
    return product_id_of(node_id)


def normalise_label(text: str) -> str:
    return " ".join(text.lower().split())


# What a catalogue, a labelled file or a prediction writes for "this attribute has no value":
# the one definition ingest, scoring, corruption, synonym pairs and relations all use.
NO_VALUES = frozenset({"", "n/a", "none", "null"})


def is_no_value(text: str | None) -> bool:
    """Whether `text` says "no value" (None, or one of NO_VALUES after `normalise_label`)."""
    return text is None or normalise_label(text) in NO_VALUES


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    """sha256 of sorted-key JSON: identical content gets an identical id."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


class TextSnippet(BaseModel):
    """A review or a question-and-answer text attached to a product."""

    id: str
    text: str


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(min_length=1)
    description: str = ""
    product_type: str | None = None
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    reviews: list[TextSnippet] = Field(default_factory=list)
    questions: list[TextSnippet] = Field(default_factory=list)
    source: str | None = None  # "file:line" it was read from

    def field_text(self, field: str) -> str:
        """Text of a source field: title, description, review:<id> or qa:<id>."""
        if field in ("title", "description"):
            return getattr(self, field)
        kind, _, snippet_id = field.partition(":")
        snippets = {"review": self.reviews, "qa": self.questions}.get(kind)
        if snippets is None:
            raise KeyError(f"unknown source field {field!r}")
        for snippet in snippets:
            if snippet.id == snippet_id:
                return snippet.text
        raise KeyError(f"product {self.id} has no {field}")

    def text_fields(self) -> dict[str, str]:
        fields = {"title": self.title}
        if self.description:
            fields["description"] = self.description
        fields.update({f"review:{r.id}": r.text for r in self.reviews})
        fields.update({f"qa:{q.id}": q.text for q in self.questions})
        return fields

    def content_hash(self) -> str:
        return content_hash(self.model_dump(exclude={"source"}))


class TaxonomyNode(BaseModel):
    id: str
    name: str
    parent: str | None = None
    attributes: list[str] = Field(default_factory=list)  # attributes that apply (Shopify)


def path_names(node: TaxonomyNode, by_id: Mapping[str, TaxonomyNode]) -> list[str]:
    """Names from the root down to `node`, itself included: the one walk up a taxonomy held in
    memory (the ledger walks its own in SQL, `Ledger.taxonomy_path`). A missing parent ends
    the path, and so does a node already passed (files ingested one after another can close a
    cycle)."""
    names: list[str] = []
    seen: set[str] = set()
    current: TaxonomyNode | None = node
    while current is not None and current.id not in seen:
        seen.add(current.id)
        names.append(current.name)
        current = by_id.get(current.parent) if current.parent else None
    return names[::-1]


class Provenance(BaseModel):
    step: str  # ingest, taxonomy, relations, imputation, cleaning, synonyms
    method: str  # gold, baseline, agent, hybrid
    run_id: str
    source_field: str | None = None
    start: int | None = None
    end: int | None = None
    model: str | None = None
    prompt: str | None = None  # name@version#hash of the rendered template


class Fact(BaseModel):
    subject: str
    predicate: str
    object: str
    confidence: float | None = None
    status: FactStatus = "active"
    provenance: Provenance

    @property
    def key(self) -> bytes:
        """The 16-byte hash of the triple and its provenance, without the run and the
        confidence: what the ledger indexes. `id` is its text form."""
        p = self.provenance
        return fact_key(self.subject, self.predicate, self.object, p.step, p.method, p.model, p.prompt,
                        p.source_field, p.start, p.end)

    @property
    def id(self) -> str:
        return id_of_key(self.key)


_NUL = "\x00"


def fact_key(subject: str, predicate: str, object: str, step: str, method: str, model: str | None,
             prompt: str | None, source_field: str | None, start: int | None, end: int | None) -> bytes:
    """`Fact.key` from the fields themselves: a Ray worker writing facts as columns hashes
    them with this, without a pydantic object per fact."""
    # Unit-separated fields, NUL for None: far cheaper than JSON on hot paths (this runs once
    # per fact stored). It reads back unambiguously unless a field holds \x1f or an optional
    # field is "\x00" itself; such a fact is hashed as canonical JSON of its fields instead.
    # JSON writes every control character as an escape, so its text never holds \x1f, while
    # the joined form always holds nine: the two cannot meet, and other facts keep their ids.
    text = "\x1f".join((subject, predicate, object, step, method, _NUL if model is None else model,
                        _NUL if prompt is None else prompt, _NUL if source_field is None else source_field,
                        _NUL if start is None else str(start), _NUL if end is None else str(end)))
    if text.count("\x1f") != 9 or _NUL in (model, prompt, source_field):
        text = canonical_json([subject, predicate, object, step, method, model, prompt, source_field, start, end])
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def id_of_key(key: bytes) -> str:
    """A fact's key -> its id, the text form shown and exported: `sha256:` + 32 hex digits."""
    return "sha256:" + key.hex()


def key_of_id(fact_id: str) -> bytes:
    """A fact's id -> the key the ledger indexes."""
    return bytes.fromhex(fact_id.removeprefix("sha256:"))


class Run(BaseModel):
    id: str
    command: str
    config: dict[str, Any] = Field(default_factory=dict)
    started_at: float
    finished_at: float | None = None
    status: Literal["running", "finished", "failed"] = "running"
    summary: dict[str, Any] = Field(default_factory=dict)
