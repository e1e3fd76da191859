"""What a question about product texts needs from a search index, as a protocol.

The question layer never imports `retrieval/`: whoever opens a `Session` (the CLI, the web
server, a script) hands it a source of a `TextSearch`, usually
`shelfgraph.retrieval.index.text_search(store)`, the Chroma index beside the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class TextHit(Protocol):
    """A sentence of a product's text: where it is (`field`, `start`, `end`) and how close."""

    @property
    def field(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def score(self) -> float | None: ...


class TextSearch(Protocol):
    def similar_products(self, text: str, /, k: int = 10) -> list[tuple[str, float]]:
        """Ids of the `k` products closest to `text`, with their scores, best first."""
        ...

    def evidence(self, product_id: str, text: str, /, k: int = 3) -> Sequence[TextHit]:
        """The `k` sentences of one product's texts closest to `text`."""
        ...


# Called at each question about texts until it returns a search (None: the graph has no
# index yet), so an index built while a session is open is found.
TextSearchSource = Callable[[], "TextSearch | None"]
