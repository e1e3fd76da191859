"""A fact's evidence as the text around its span, split so a template can wrap the span in
`<mark>` and escape all three parts: the page never builds HTML out of product text."""

from __future__ import annotations

from pydantic import BaseModel

from ..models import Product, Provenance

CONTEXT = 160  # characters shown on each side of a span in a long field (descriptions, reviews)


class Evidence(BaseModel):
    """`before` + `span` + `after` is the shown part of the field's text; `clipped_*` say whether
    text was left out there. `problem` is set instead when the span cannot be shown."""

    field: str | None = None
    before: str = ""
    span: str = ""
    after: str = ""
    clipped_before: bool = False
    clipped_after: bool = False
    problem: str | None = None


def evidence_of(product: Product | None, provenance: Provenance, context: int = CONTEXT) -> Evidence | None:
    """The span of `product`'s text a fact was read from; None for a fact with no source field
    (a gold value given in the catalogue, a type placed in the taxonomy)."""
    field = provenance.source_field
    if not field:
        return None
    if field not in ("title", "description") and not field.startswith(("review:", "qa:")):
        return Evidence(field=field)  # not a text of the product: "catalogue" (a value it came with)
    if product is None:
        return Evidence(field=field, problem="the product is not in the store")
    try:
        text = product.field_text(field)
    except KeyError:
        return Evidence(field=field, problem=f"the product has no {field}")
    start, end = provenance.start, provenance.end
    whole = Evidence(field=field, before=text[:2 * context], clipped_after=len(text) > 2 * context)
    if start is None or end is None:
        return whole
    if not 0 <= start <= end <= len(text):
        return whole.model_copy(update={"problem": f"span [{start}:{end}] is outside the {field} "
                                                   f"({len(text)} characters)"})
    left = max(0, start - context)
    right = min(len(text), end + context)
    return Evidence(field=field, before=text[left:start], span=text[start:end], after=text[end:right],
                    clipped_before=left > 0, clipped_after=right < len(text))
