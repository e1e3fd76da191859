"""LangChain over the graph: a retriever of cited facts and a tool that runs a typed query.

    from shelfgraph.integrations.langchain import GraphRetriever, graph_query_tool
    retriever = GraphRetriever(store="graph.db")
    retriever.invoke("Which coffees are decaf?")    # Documents: one per cited fact or passage
    tool = graph_query_tool("graph.db")             # args: a GraphQuery (types, filters, ...)
    agent_model.bind_tools([tool])

Both read the store through the read-only `Session`; neither can write to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..extras import require

require("langchain", "shelfgraph.integrations.langchain")  # before the optional imports below

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import StructuredTool
from pydantic import PrivateAttr

from ..qa import Answer, GraphQuery, Session

TOOL_DESCRIPTION = (
    "Query the product knowledge graph. Give product_types (e.g. ['Coffee']), filters "
    "(attributes such as ['Caffeine content'], op eq/ne/lt/le/gt/ge, values or number+unit), "
    "intent list/count/group (group_by an attribute or 'product_type'), show (attributes to "
    "report). Returns matching products with the ids and text spans of the facts behind them."
)


def answer_documents(answer: Answer) -> list[Document]:
    """One Document per fact an answer cites (or per text passage it quotes)."""
    docs = []
    for p in answer.passages:
        docs.append(Document(
            page_content=p.text,
            metadata={"product_id": p.product_id, "title": p.title, "source_field": p.source_field,
                      "start": p.start, "end": p.end, "score": p.score, "kind": "passage"},
        ))
    for c in answer.citations:
        name = c.predicate.removeprefix("attr:")
        evidence = f' (from {c.source_field}: "{c.evidence}")' if c.evidence else ""
        docs.append(Document(
            page_content=f"{answer.titles.get(c.product_id, c.product_id)}: {name} = {c.value}{evidence}",
            metadata={"product_id": c.product_id, "title": answer.titles.get(c.product_id), "fact_id": c.fact_id, "predicate": c.predicate,
                      "value": c.value, "method": c.method, "source_field": c.source_field,
                      "start": c.start, "end": c.end, "evidence": c.evidence, "kind": "fact"},
        ))
    return docs


class GraphRetriever(BaseRetriever):
    """Answers each query on its own (no conversation) and returns the cited facts as
    Documents; questions about product texts return the retrieved sentences."""

    store: Path
    texts: Any = None  # a qa.TextSearchSource, e.g. shelfgraph.retrieval.index.text_search(store)
    use_llm: bool = False  # True: the packaged model decides the intent of cue-less questions
    _session: Session | None = PrivateAttr(default=None)

    def _open(self) -> Session:
        if self._session is None:
            llm = None
            if self.use_llm:
                from ..llm import get_llm

                llm = get_llm
            self._session = Session(self.store, llm=llm, texts=self.texts)
        return self._session

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        session = self._open()
        session.reset()
        return answer_documents(session.ask(query))


def graph_query_tool(store: str | Path) -> StructuredTool:
    """A tool whose arguments are a `GraphQuery`: an agent fills in the typed query, the graph
    runs it read-only and the tool returns the cited answer text."""
    session = Session(store)

    def query_product_graph(**arguments: Any) -> str:
        return session.run(GraphQuery.model_validate(arguments)).text

    return StructuredTool.from_function(
        func=query_product_graph, name="query_product_graph", description=TOOL_DESCRIPTION,
        args_schema=GraphQuery,
    )
