"""Text from the catalogue shown on a terminal: control characters made visible, never obeyed.

A product title can carry ESC sequences (colours, cursor moves, a window title, an OSC 8
link), a carriage return that overwrites what the line said, or rich markup like `[bold]`.
Printed as they are, they rewrite the reader's screen. Every string that came from input
passes through `safe_text` (plain output) or `safe_markup` (rich) before it is printed;
JSON output needs neither (JSON escapes control characters itself).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Product

# C0 controls, DEL and C1 controls (U+009B is CSI on its own), plus the bidi embeddings,
# overrides and isolates that reorder what a line shows.
_UNSAFE = "\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\n{_UNSAFE}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[{_UNSAFE}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: object, multiline: bool = False) -> str:
    """`text` with each control character written as an escape (ESC -> `\\x1b`); with
    `multiline`, newlines are kept (an answer of several lines)."""
    return (_CONTROL_BUT_NEWLINE if multiline else _CONTROL).sub(_escape, str(text))


def safe_markup(text: object) -> str:
    """`safe_text` for rich: `[...]` is escaped too, so product text is never read as markup."""
    from rich.markup import escape

    return escape(safe_text(text))


def span_markup(text: str, start: int, end: int, context: int = 24) -> str:
    """`text[start:end]` highlighted among up to `context` characters on each side, as safe
    rich markup: the evidence of a fact as a person checks it."""
    before, after = text[max(0, start - context):start], text[end:end + context]
    return ("…" if start > context else "") + safe_markup(before) + "[reverse]" + safe_markup(text[start:end]) + \
        "[/]" + safe_markup(after) + ("…" if end + context < len(text) else "")


def evidence_markup(product: "Product", field: str | None, start: int | None, end: int | None) -> str:
    """Where a fact was read: `title[43:48]` and the span in its context; only the field when
    there is no span or no such text (e.g. a catalogue's own value given as a column)."""
    if field is None:
        return ""
    try:
        text = product.field_text(field)
    except KeyError:
        return safe_markup(field)
    if start is None or end is None:
        return safe_markup(field)
    return f"{safe_markup(field)}\\[{start}:{end}] {span_markup(text, start, end)}"
