"""The web app of `shelfgraph serve`: server-rendered pages over one graph.

Safe by construction: every template is autoescaped (product text shows as text, never as
markup); pages carry no script at all and a Content-Security-Policy that forbids one; the
store is read through a read-only connection, and written only by review actions, which
exist only with `allow_review` and need the per-process CSRF token; requests must name this
machine as their host (a page elsewhere that rebinds its name to 127.0.0.1 gets nothing).
"""

from __future__ import annotations

import getpass
import hmac
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .data import GraphData

if TYPE_CHECKING:
    from ..qa import Session

HERE = Path(__file__).parent
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class WebSettings(BaseModel):
    """What `shelfgraph serve` was started with."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Path
    host: str = "127.0.0.1"
    allow_review: bool = False
    reviewer: str = ""
    runs_dir: Path = Path("runs")
    # Makes the question session; default: no model (questions with no cue word are lists).
    session: Callable[[], Any] | None = None  # -> qa.Session
    # The eval runs' pages (an APIRouter: eval/web.py), which `serve` adds; none: not served.
    eval_pages: Any = None


class Csrf:
    """A per-process secret; forms carry a token derived from it, and a POST without the
    right token is refused. A page on another site cannot read ours, so it cannot know it."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def token(self, purpose: str = "review") -> str:
        return hmac.new(self._secret, purpose.encode(), "sha256").hexdigest()

    def check(self, token: str | None, purpose: str = "review") -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.token(purpose).encode())


def create_app(settings: WebSettings) -> FastAPI:
    from . import asking, pages, reviewing

    store = settings.store
    session = settings.session or _model_free_session(store)
    data = GraphData(store, session)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=data.prepare, name="prepare-questions", daemon=True).start()
        yield
        data.close()

    app = FastAPI(title="shelfgraph", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings.model_copy(update={"reviewer": settings.reviewer or _user()})
    app.state.data = data
    app.state.csrf = Csrf()
    app.state.templates = _templates(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages, asking, reviewing):
        app.include_router(module.router)
    if settings.eval_pages is not None:
        app.include_router(settings.eval_pages)
    if settings.host in LOOPBACK:  # served to this machine only: refuse other host names
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    return app


def _model_free_session(store: Path) -> Callable[[], "Session"]:
    def make() -> "Session":
        from ..qa import Session

        return Session(store, llm=None)

    return make


def _templates(app: FastAPI) -> Jinja2Templates:
    """Templates with autoescaping on for every file (Starlette's default environment
    escapes only .html names; this one escapes whatever a template is called)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    from . import filters

    env.filters.update(filters.FILTERS)
    env.globals.update(settings=app.state.settings, csrf_token=app.state.csrf.token)
    return Jinja2Templates(env=env)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "web"
