"""The review queue page and its three actions (accept, reject, correct).

Actions are POSTs of an urlencoded form carrying the CSRF token; they exist only when the
server was started with `--allow-review`, and each opens the store for writing just for
its own decision. After a decision the browser is sent back to the queue (303), so a reload
never repeats it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..errors import StoreError
from .review import Decision, decide
from .views import PageNo, graph, render

router = APIRouter()
MAX_FORM_BYTES = 64 * 1024


@router.get("/review", response_class=HTMLResponse)
def queue(request: Request, page: PageNo = 1, done: str = "", fact: str = "") -> HTMLResponse:
    return render(request, "review.html", title="Review", queue=graph(request).review_queue(page),
                  done=done, decided=fact)


@router.post("/review")
async def act(request: Request) -> Response:
    settings = request.app.state.settings
    if not settings.allow_review:
        return _refuse(request, 403, "Review is off: start the server with `shelfgraph serve --allow-review`.")
    form = await _form(request)
    if form is None:
        return _refuse(request, 400, "Send the review form (application/x-www-form-urlencoded, under 64 KiB).")
    if not request.app.state.csrf.check(form.get("csrf")):
        return _refuse(request, 403, "The form's token is missing or stale: reload the review page and try again.")
    try:
        decision = Decision(action=form.get("action", ""), fact_id=form.get("fact_id", ""),  # type: ignore[arg-type]
                            value=form.get("value", ""))
        standing = await run_in_threadpool(decide, settings.store, settings.reviewer, decision)
    except (ValueError, KeyError) as error:  # pydantic's ValidationError is a ValueError
        return _refuse(request, 400, f"Cannot do that: {error}")
    except StoreError as error:
        return _refuse(request, 409, str(error))
    page = form.get("page", "1")
    back = {"done": decision.action, "fact": standing, "page": page if page.isdigit() else "1"}
    return RedirectResponse("/review?" + urlencode(back), status_code=303)


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form of a POST (first value of each field), or None if it is not one."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return None
    return {name: values[0] for name, values in fields.items()}


def _refuse(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status, title="Refused", message=message)
