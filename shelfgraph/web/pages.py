"""Pages that look at the graph: overview, products (search and one product), taxonomy,
attributes, build runs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..models import TYPE_PREFIX, VALUE_PREFIX, product_id_of
from . import charts
from .filters import anchor, segment
from .views import PageNo, graph, not_found, render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    summary = graph(request).overview()
    return render(request, "overview.html", title="Overview", overview=summary,
                  growth_chart=charts.growth(summary.growth))


@router.get("/products", response_class=HTMLResponse)
def products(request: Request, q: str = "", page: PageNo = 1) -> HTMLResponse:
    return render(request, "products.html", title=f"Products matching {q!r}" if q else "Products", q=q,
                  results=graph(request).search(q.strip(), page))


@router.get("/products/{product_id:path}", response_class=HTMLResponse)
def product(request: Request, product_id: str, page: PageNo = 1) -> HTMLResponse:
    view = graph(request).product(product_id, page)
    if view is None:
        return not_found(request, f"No product {product_id!r} in the graph.")
    return render(request, "product.html", title=view.product.title, view=view)


@router.get("/taxonomy", response_class=HTMLResponse)
def taxonomy(request: Request, node: str = "", page: PageNo = 1) -> HTMLResponse:
    data = graph(request)
    view = data.taxonomy(node or None, page)
    if view is None:
        return not_found(request, f"No taxonomy node {node!r}.")
    placed = data.placed_types() if view.node is None else []
    return render(request, "taxonomy.html", title=view.node.name if view.node else "Taxonomy", view=view,
                  placed=placed)


@router.get("/attributes", response_class=HTMLResponse)
def attributes(request: Request) -> HTMLResponse:
    return render(request, "attributes.html", title="Attributes", attributes=graph(request).attributes())


@router.get("/attributes/{name:path}", response_class=HTMLResponse)
def attribute(request: Request, name: str, value: str = "", page: PageNo = 1) -> HTMLResponse:
    data = graph(request)
    if value:
        return render(request, "value.html", title=f"{name} = {value}", name=name, value=value,
                      results=data.products_with_value(name, value, page))
    return render(request, "attribute.html", title=name, view=data.attribute(name, page))


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run(request: Request, run_id: str) -> HTMLResponse:
    found = graph(request).run(run_id)
    if found is None:
        return not_found(request, f"No run {run_id!r} in the graph.")
    return render(request, "run.html", title=f"Run {run_id}", growth=found)


@router.get("/facts/{fact_id}")
def fact(request: Request, fact_id: str) -> Response:
    """A fact by id: its row on its product's page (facts about types and values: the overview)."""
    subject = graph(request).fact_subject(fact_id)
    if subject is None:
        return not_found(request, f"No fact {fact_id!r} in the graph.")
    if subject.startswith((TYPE_PREFIX, VALUE_PREFIX)):
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/products/{segment(product_id_of(subject))}#{anchor(fact_id)}", status_code=303)
