"""Grounded values: a value can only be a span of the source text, or "n/a".

`span_candidates(text)` lists the text's word n-grams with their character offsets.
`grounded_model(text, fields)` builds, per input, a pydantic response model whose value
fields are `Literal` enums of those n-grams plus "n/a": the JSON schema (and so the grammar
or the server's structured-output mode) admits nothing else, so every value is grounded by
construction and `spans()` maps it back to its offsets.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, create_model

from .types import Span

NA = "n/a"
_TOKEN = re.compile(r"\w+|[^\w\s]")  # words, and every symbol on its own
_BREAKS = set(",;:!?()[]{}\"|")  # a value never spans these
_END_SYMBOLS = set("+%.")  # a value may end with these when attached ("SPF 50+", "100%", "Co.")
_INSIDE_WORD = set("'’.")  # "Men's", "G.H.": no value starts or ends inside such a word


def span_candidates(text: str, max_words: int = 6) -> list[Span]:
    """Distinct spans of `text` of up to `max_words` words, first occurrence each.

    A span starts with a word and ends with a word (or an attached + % . or an inch mark
    after a number), never spans a comma, a bracket or a quote, and never cuts a word like "Men's" or "G.H."; hyphens and slashes
    do separate ("Shoe-49-Black/Moonlight" yields "49" and "Black/Moonlight"). The value
    is the exact substring `text[start:end]`.
    """
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]

    def glued(i: int) -> bool:  # token i is an apostrophe/dot with no space on either side
        start, end, tok = tokens[i]
        return tok in _INSIDE_WORD and start > 0 and end < len(text) and text[start - 1].isalnum() \
            and text[end].isalnum()

    seen: dict[str, Span] = {}
    for i, (start, _, first) in enumerate(tokens):
        if not first[0].isalnum() or (i > 0 and tokens[i - 1][1] == start and glued(i - 1)):
            continue
        words = 0
        for j in range(i, len(tokens)):
            tok_start, end, tok = tokens[j]
            attached = tok_start == tokens[j - 1][1] if j > i else True
            inch = tok == '"' and attached and tokens[j - 1][2][-1].isdigit()  # 12" pizza
            if tok in _BREAKS and not inch:
                break
            if tok[0].isalnum():
                words += 1
                if words > max_words:
                    break
            elif not (inch or (tok in _END_SYMBOLS and attached)):
                continue
            if j + 1 < len(tokens) and tokens[j + 1][0] == end and glued(j + 1):
                continue  # would cut "Men's" after "Men"
            value = text[start:end]
            if value not in seen and value != NA:
                seen[value] = Span(value=value, start=start, end=end)
    return list(seen.values())


class GroundedAnswer(BaseModel):
    """Base of the models `grounded_model` builds; `spans()` resolves values to offsets."""

    model_config = ConfigDict(populate_by_name=True)
    source_text: ClassVar[str] = ""
    candidates: ClassVar[dict[str, Span]] = {}
    attributes: ClassVar[dict[str, str]] = {}  # field name -> attribute name

    def spans(self) -> dict[str, Span | None]:
        """Attribute name -> its span in the source text, None for "n/a"."""
        out: dict[str, Span | None] = {}
        for field, attribute in self.attributes.items():
            value = getattr(self, field)
            out[attribute] = None if value == NA else self.candidates[value]
        return out


def field_name(attribute: str) -> str:
    name = re.sub(r"\W+", "_", attribute.strip().lower()).strip("_") or "value"
    return f"f_{name}" if name[0].isdigit() else name


def grounded_model(
    source_text: str, fields: Sequence[str], max_words: int = 6, name: str = "GroundedValues",
    drop_chars: str = "",
) -> type[GroundedAnswer]:
    """A response model with one field per attribute, each a span of `source_text` or "n/a".

    The JSON keys are the attribute names themselves (aliases), so prompts can name them as is.
    `drop_chars`: leave out spans containing any of these (a server whose grammar converter
    cannot escape them, e.g. llama_cpp.server and `"`).
    """
    candidates = {s.value: s for s in span_candidates(source_text, max_words)
                  if not any(c in s.value for c in drop_chars)}
    allowed = Literal[tuple([*candidates, NA])]  # type: ignore[valid-type]
    definitions: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for attribute in fields:
        field = field_name(attribute)
        if field in attributes:
            raise ValueError(f"attributes {attributes[field]!r} and {attribute!r} clash as field {field!r}")
        attributes[field] = attribute
        definitions[field] = (allowed, Field(alias=attribute))
    model = create_model(name, __base__=GroundedAnswer, **definitions)
    model.source_text = source_text
    model.candidates = candidates
    model.attributes = attributes
    return model
