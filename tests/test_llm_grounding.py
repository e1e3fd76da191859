"""Grounded response models: values can only be spans of the source text, or n/a."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shelfgraph.llm import NA, grounded_model, span_candidates

TITLE = "Ben & Jerry's Black Cherry Ice Cream, 16 oz (Pack of 2) SPF 50+"


def test_candidates_are_substrings_at_their_offsets():
    spans = span_candidates(TITLE)
    assert spans and all(TITLE[s.start:s.end] == s.value for s in spans)
    values = {s.value for s in spans}
    assert {"Ben & Jerry's", "Black Cherry", "16 oz", "Pack of 2", "SPF 50+"} <= values
    # never across a comma or a bracket, never starting on a symbol
    assert not any(v.startswith(("&", "(")) or "," in v or "(" in v for v in values)


def test_grounded_model_admits_only_spans_and_maps_them_to_offsets():
    model = grounded_model(TITLE, ["Brand", "Net content"])
    answer = model.model_validate({"Brand": "Ben & Jerry's", "Net content": NA})
    spans = answer.spans()
    assert spans["Net content"] is None
    assert TITLE[spans["Brand"].start:spans["Brand"].end] == "Ben & Jerry's"
    with pytest.raises(ValidationError):
        model.model_validate({"Brand": "Haagen-Dazs", "Net content": NA})


def test_the_schema_names_fields_by_attribute_and_enumerates_spans():
    schema = grounded_model(TITLE, ["Net content"]).model_json_schema()
    assert list(schema["properties"]) == ["Net content"]
    assert set(schema["properties"]["Net content"]["enum"]) == {s.value for s in span_candidates(TITLE)} | {NA}
    assert "$defs" not in schema  # llama.cpp ignores inline $defs


def test_an_inch_mark_may_end_a_value_but_quotes_never_join_values():
    values = {s.value for s in span_candidates('Pizza Stone 12" Round, "Pro" edition')}
    assert {'12"', 'Stone 12"', '12" Round', "Pro"} <= values
    assert not any(v.startswith('"') or v.endswith('o"') for v in values)
