"""The ask box: a question answered from the graph's facts, each cited fact linked to its
product page; `/api/ask` returns the same answer as JSON. A list answer comes a page at a
time (`page`): every matching product is counted (`total`), only a page's are read and cited,
so a question matching thousands of products answers as fast as one matching a hundred."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from .data import Page
from .views import graph, render

router = APIRouter()
Question = Annotated[str, Query(max_length=1000, description="the question, in plain language")]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000, description="which page of a list answer")]


SHOWN = 100  # products a page of an answer lists; the rest are counted


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request, q: Question = "", page: PageNumber = 1) -> HTMLResponse:
    answer = graph(request).ask(q, limit=SHOWN, offset=(page - 1) * SHOWN) if q.strip() else None
    more = answer is not None and answer.total is not None and answer.total > page * SHOWN
    return render(request, "ask.html", title="Ask the graph", question=q, answer=answer,
                  pages=Page(items=[], number=page, size=SHOWN, more=more))


@router.get("/api/ask")
def ask_json(request: Request, q: Question,
             limit: Annotated[int, Query(ge=1, le=10_000, description="at most this many products a page")] = SHOWN,
             page: PageNumber = 1) -> Response:
    """The answer: its text, the query it ran, the products of this page, their cited facts
    (ids, spans) and `total`, the products matching in all. Serialised by pydantic directly:
    FastAPI's encoder of the dumped dict took 6 ms of a 100-product answer (docs/benchmarks.md)."""
    answer = graph(request).ask(q, limit, offset=(page - 1) * limit)
    return Response(answer.model_dump_json(), media_type="application/json")
