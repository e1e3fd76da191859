"""The ask box: a question answered from the graph's facts, each cited fact linked to its
product page; `/api/ask` returns the same answer as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from .views import graph, render

router = APIRouter()
Question = Annotated[str, Query(max_length=1000, description="the question, in plain language")]


SHOWN = 100  # products an answer page lists; the rest are counted


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request, q: Question = "") -> HTMLResponse:
    answer = graph(request).ask(q, limit=SHOWN) if q.strip() else None
    return render(request, "ask.html", title="Ask the graph", question=q, answer=answer)


@router.get("/api/ask")
def ask_json(request: Request, q: Question,
             limit: Annotated[int | None, Query(ge=1, le=10_000, description="at most this many products")] = None,
             ) -> dict[str, Any]:
    """The answer: its text, the query it ran, the products and the cited facts (ids, spans)."""
    return graph(request).ask(q, limit).model_dump(mode="json")
