"""Jinja filters the templates share: how numbers, times and ids are written on a page."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlencode

from ..models import ATTRIBUTE_PREFIX


def segment(value: Any) -> str:
    """A value as one URL path segment: every reserved character escaped, `/` included."""
    return quote(str(value), safe="")


def query(params: dict[str, Any]) -> str:
    """`?a=1&b=2` from the non-empty parameters."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def when(seconds: float | None) -> str:
    return "" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def confidence(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else ("" if value is None else str(value))


def short_id(fact_id: str) -> str:
    """`sha256:0123...` -> its first 12 hex digits, enough to tell facts apart on a page."""
    return fact_id.removeprefix("sha256:")[:12]


def anchor(fact_id: str) -> str:
    """The HTML id of a fact's row on its product page."""
    return "fact-" + fact_id.removeprefix("sha256:")


def predicate(name: str) -> str:
    """`attr:Brand` -> `Brand`; fixed predicates stay as they are."""
    return name.removeprefix(ATTRIBUTE_PREFIX)


FILTERS = {"segment": segment, "query": query, "when": when, "confidence": confidence, "number": number,
           "short_id": short_id, "anchor": anchor, "predicate": predicate}
