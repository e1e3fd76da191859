"""Sentence chunks of a product's descriptions, reviews and Q&A, with exact character offsets.

Evidence shown to an agent must be traceable to its source: every chunk keeps the source
field (`description`, `review:<id>`, `qa:<id>`) and a `[start, end)` span such that
`product.field_text(field)[start:end] == chunk.text`.
"""

from __future__ import annotations

import re
from typing import Iterator

from pydantic import BaseModel

from shelfgraph.models import Product, content_hash

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by whitespace, or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*(\s+)|\n+")
MAX_CHUNK_CHARS = 500


class Chunk(BaseModel):
    id: str
    product_id: str
    field: str
    start: int
    end: int
    text: str
    score: float | None = None  # cosine similarity to the query, when retrieved


def chunk_fields(product: Product) -> dict[str, str]:
    """The fields evidence is drawn from: the title is shown to agents anyway."""
    return {field: text for field, text in product.text_fields().items() if field != "title"}


def sentence_spans(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[tuple[int, int]]:
    """`[start, end)` spans of the sentences of `text`, trimmed of surrounding whitespace;
    a sentence longer than `max_chars` is cut at the last space before the limit."""
    spans: list[tuple[int, int]] = []
    start = 0
    for boundary in _BOUNDARY.finditer(text):
        end = boundary.start(1) if boundary.group(1) else boundary.start()
        spans.extend(_trimmed_windows(text, start, end, max_chars))
        start = boundary.end()
    spans.extend(_trimmed_windows(text, start, len(text), max_chars))
    return spans


def _trimmed_windows(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > max_chars:
        cut = text.rfind(" ", start + 1, start + max_chars)
        cut = cut if cut > start else start + max_chars
        yield start, cut
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end


def product_chunks(product: Product) -> list[Chunk]:
    """All sentence chunks of one product; ids are content hashes (product, field, span, text)."""
    chunks = []
    for field, text in chunk_fields(product).items():
        for start, end in sentence_spans(text):
            piece = text[start:end]
            chunk_id = "chunk:" + content_hash([product.id, field, start, end, piece])[:32]
            chunks.append(
                Chunk(id=chunk_id, product_id=product.id, field=field, start=start, end=end, text=piece)
            )
    return chunks
