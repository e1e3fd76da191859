"""JSON schema -> GBNF grammar for llama.cpp, with string literals escaped correctly.

llama-cpp-python 0.3.36's converter escapes `"` but not the backslash that `json.dumps`
puts before it, so an enum value containing a quote (`12" pizza`) yields a broken grammar.
Upstream llama.cpp escapes both; so does this subclass.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ESCAPES = {"\r": "\\r", "\n": "\\n", '"': '\\"', "\\": "\\\\"}
_ESCAPE_RE = re.compile(r'[\r\n"\\]')


def schema_to_gbnf(schema: dict[str, Any]) -> str:
    from llama_cpp.llama_grammar import SchemaConverter

    class Converter(SchemaConverter):
        def _format_literal(self, literal: str) -> str:
            return '"' + _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], literal) + '"'

    converter = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    resolved = converter.resolve_refs(json.loads(json.dumps(schema)), "schema")
    converter.visit(resolved, "")
    return converter.format_grammar()
