"""Questions to the graph in plain language, answered from its facts with citations.

    with Session("graph.db", llm=get_llm(), texts=text_search("graph.db")) as session:
        answer = session.ask("Which coffees are decaf, and from which brands?")
        answer.text, answer.product_ids, answer.citations
        session.ask("and which of those are whole bean?")   # merged into the previous query

`GraphQuery` is the only thing executed (`execute(query, GraphReader(path))`), over a
read-only connection. `texts` (here `shelfgraph.retrieval.index.text_search`, the Chroma index beside
the graph) answers questions about product texts; the question layer never imports it.
"""

from .executor import execute
from .graph import GraphReader
from .planner import Plan, Planner
from .query import Answer, Citation, Filter, GraphQuery, Group, Passage, QueryResult, Row
from .session import Session
from .texts import TextSearch, TextSearchSource

__all__ = ["Answer", "Citation", "Filter", "GraphQuery", "GraphReader", "Group", "Passage", "Plan", "Planner",
           "QueryResult", "Row", "Session", "TextSearch", "TextSearchSource", "execute"]
