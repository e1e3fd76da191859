"""What every route module shares: rendering a template and reaching the graph."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from .data import GraphData

PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


def not_found(request: Request, what: str) -> HTMLResponse:
    return render(request, "error.html", status_code=404, title="Not found", message=what)


def graph(request: Request) -> GraphData:
    return request.app.state.data
