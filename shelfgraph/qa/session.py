"""A conversation with the graph: each question planned (merged into the previous query when
it is a follow-up), executed read-only, and answered with citations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .compose import graph_answer, not_found_answer, text_answer
from .executor import execute
from .graph import GraphReader
from .planner import Planner
from .query import TYPE_KEY, Answer, GraphQuery, Passage
from .texts import TextSearch, TextSearchSource
from .vocabulary import Vocabulary

if TYPE_CHECKING:
    from ..llm import LLM

TEXT_CANDIDATES = 3  # products whose texts are searched for a text question
# Products drawn from the index, by closeness to the question, when the question also
# constrains them (a type, a value): the first TEXT_CANDIDATES of these that satisfy it are
# searched. 50 is far more than the candidates needed, yet one cheap query.
CONSTRAINED_CANDIDATES = 50
PASSAGES_PER_PRODUCT = 2
# MiniLM cosine below which a sentence is not about the question (on the test reviews,
# on-topic sentences scored 0.48-0.50, off-topic ones 0.04-0.15)
MIN_PASSAGE_SCORE = 0.25


class Session:
    """Ask questions of the graph at `store`; `history` keeps every answer of the conversation.
    `texts` gives the search over product texts that questions about them need (see texts.py);
    without it they are answered with how to build one."""

    def __init__(self, store: str | Path, llm: "LLM | Callable[[], LLM] | None" = None,
                 texts: TextSearchSource | None = None):
        self.store = Path(store)
        self.graph = GraphReader(self.store)
        self.vocabulary = Vocabulary.from_graph(self.graph)
        self.planner = Planner(self.vocabulary, llm)
        self._texts_source = texts
        self._texts: TextSearch | None = None
        self.history: list[Answer] = []

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.graph.close()

    @property
    def last_query(self) -> GraphQuery | None:
        for answer in reversed(self.history):
            if answer.query is not None:
                return answer.query
        return None

    def reset(self) -> None:
        self.history.clear()

    def ask(self, question: str, limit: int | None = None, offset: int = 0) -> Answer:
        """Answer `question`; with `limit`, a list answer names at most that many products (the
        rest are only counted), after skipping `offset` of them (a later page), unless the
        question itself asks for a number of them. Counts and groups always cover every product."""
        answer = self._answer(question.strip(), limit, offset)
        self.history.append(answer)
        return answer

    def run(self, query: GraphQuery, question: str = "") -> Answer:
        """Execute a typed query directly (what the LangChain tool calls); names the graph does
        not know are reported, with the known ones, instead of silently matching nothing."""
        question = question or query.describe()
        types = {t.lower() for t in self.vocabulary.types}
        attributes = {a.lower() for a in self.vocabulary.attributes}
        unknown_types = [t for t in query.product_types if t.lower() not in types]
        named = [a for f in query.filters for a in f.attributes] + query.show
        named += [query.group_by] if query.group_by and query.group_by != TYPE_KEY else []
        unknown_attributes = [a for a in named if a.lower() not in attributes]
        if unknown_types:
            return not_found_answer(question, unknown_types, "product type", sorted(self.vocabulary.types))
        if unknown_attributes:
            return not_found_answer(question, unknown_attributes, "attribute", sorted(self.vocabulary.attributes))
        return graph_answer(question, execute(query, self.graph))

    def _answer(self, question: str, limit: int | None = None, offset: int = 0) -> Answer:
        plan = self.planner.plan(question, self.last_query)
        if limit is not None and plan.query is not None and plan.query.intent == "list" and plan.query.limit is None:
            plan.query = plan.query.model_copy(update={"limit": limit, "offset": offset})
        if plan.route == "not_found":
            hints = {t: self.vocabulary.closest(t) for t in plan.unknown_terms}
            return not_found_answer(question, plan.unknown_terms, suggestions={t: w for t, w in hints.items() if w})
        if plan.route == "text":
            return self._text(question, plan.query)
        answer = graph_answer(question, execute(plan.query, self.graph))  # type: ignore[arg-type]
        return answer.model_copy(update={"notice": plan.notice}) if plan.notice else answer

    def _text(self, question: str, query: GraphQuery | None) -> Answer:
        """Questions a typed query cannot express ("what do reviewers say about ..."): the
        closest sentences of the products' descriptions, reviews and Q&A."""
        index = self._open_texts()
        if index is None:
            return Answer(question=question, kind="not_found",
                          text="Not in the graph's index: no index of its product texts was found; "
                               f"build it with `shelfgraph index --store {self.store}`.")
        constrained = query is not None and (query.product_types or query.filters)
        allowed = set(execute(query, self.graph).product_ids) if constrained else None  # type: ignore[arg-type]
        if allowed is not None and len(allowed) <= TEXT_CANDIDATES:
            candidates = sorted(allowed)
        else:
            k = CONSTRAINED_CANDIDATES if allowed else TEXT_CANDIDATES
            hits = index.similar_products(question, k=k)
            candidates = [pid for pid, _ in hits if allowed is None or pid in allowed][:TEXT_CANDIDATES]
        products = self.graph.products(candidates)
        passages = [
            Passage(product_id=pid, title=products[pid].title, source_field=c.field, start=c.start, end=c.end,
                    text=c.text, score=c.score)
            for pid in candidates if pid in products
            for c in index.evidence(pid, question, k=PASSAGES_PER_PRODUCT)
            if c.score >= MIN_PASSAGE_SCORE
        ]
        passages.sort(key=lambda p: -p.score)
        return text_answer(question, passages, candidates, {pid: p.title for pid, p in products.items()})

    def _open_texts(self) -> TextSearch | None:
        if self._texts is None and self._texts_source is not None:
            self._texts = self._texts_source()
        return self._texts
