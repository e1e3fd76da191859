"""The LLM layer on the in-process backend: the packaged Gemma 3 270M through llama.cpp."""

from __future__ import annotations

import json
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from shelfgraph.context import LLMConfig
from shelfgraph.llm import LLMError, get_llm, grounded_model
from shelfgraph.prompting import RenderedPrompt

EXTRACT = (
    "Product attributes, copied from the title.\n\n"
    "Title: Lipton Green Tea Bags, 100 count\nBrand: Lipton\nFlavor: Green Tea\n\n"
    "Title: Quaker Instant Oatmeal Maple Brown Sugar, 10 ct\nBrand: Quaker\nFlavor: Maple Brown Sugar\n\n"
    "Title: {title}\n"
)
TITLE = "Folgers Classic Roast Ground Coffee, 25.9 oz"
JSON_PROMPT = (
    'Title: Lipton Green Tea Bags, 100 count\nJSON: {{"brand": "Lipton", "pack": "100 count"}}\n'
    "Title: {title}\nJSON: "
)
DECIDE = (
    "Is the product type right for the title?\n"
    "Title: Lipton Green Tea Bags | Type: tea | Answer: yes\n"
    "Title: Crest Toothpaste Mint | Type: coffee | Answer: no\n"
    "Title: Folgers Classic Roast Ground Coffee | Type: coffee | Answer:"
)


class Product(BaseModel):
    brand: str
    pack: str


@pytest.fixture
def llm(packaged_gguf, shelfgraph_home):
    return get_llm(LLMConfig(model=str(packaged_gguf)), shelfgraph_home)


def test_structured_extraction_parses_into_the_response_model(llm):
    result = llm.structured(JSON_PROMPT.format(title=TITLE), Product, max_tokens=48)
    assert isinstance(result.value, Product)
    assert result.call.tokens_out and result.call.compute_ms and not result.call.cached


def test_grounded_structured_values_are_spans_of_the_source_at_their_offsets(llm):
    model = grounded_model(TITLE, ["Brand", "Flavor"])
    spans = llm.structured(EXTRACT.format(title=TITLE) + "JSON: ", model, max_tokens=64).value.spans()
    assert set(spans) == {"Brand", "Flavor"}
    for span in spans.values():
        assert span is None or TITLE[span.start:span.end] == span.value


def test_extract_spans_gives_grounded_values_with_offsets_and_confidence(llm):
    result = llm.extract_spans(EXTRACT.format(title=TITLE), TITLE, ["Brand", "Flavor"])
    assert set(result.value) == {"Brand", "Flavor"}
    assert result.value["Brand"] is not None and result.value["Brand"].value == "Folgers"
    for span in result.value.values():
        if span is not None:
            assert TITLE[span.start:span.end] == span.value
            assert 0 < span.confidence <= 1


def test_a_decision_carries_a_confidence_from_logprobs(llm):
    choice = llm.choose(DECIDE, ["yes", "no"])
    assert choice.option in {"yes", "no"}
    assert set(choice.logprobs) == {"yes", "no"} and all(v < 0 for v in choice.logprobs.values())
    assert 0.5 <= choice.confidence <= 1
    other = "no" if choice.option == "yes" else "yes"
    assert choice.logprobs[choice.option] >= choice.logprobs[other]


def test_options_sharing_a_prefix_are_scored_in_full(llm):
    choice = llm.choose("Breakfast food made of rolled oats:", ["oatmeal", "oatmeal cookies", "coffee"])
    assert set(choice.logprobs) == {"oatmeal", "oatmeal cookies", "coffee"}
    assert len(set(choice.logprobs.values())) == 3


class _Untouchable:
    """A backend that fails if anything reaches the model."""

    kind = "local"

    def __init__(self, name):
        self.name = name

    def __getattr__(self, attribute):
        raise AssertionError(f"the model was called ({attribute}) although the call is cached")


def test_a_repeated_call_is_served_from_the_cache_without_touching_the_model(llm, shelfgraph_home):
    prompt = RenderedPrompt(DECIDE, "decide", "v1", "decide@v1#abc")
    first = llm.choose(prompt, ["yes", "no"])
    again = type(llm)(llm.config, shelfgraph_home, _Untouchable(llm.model_name))
    second = again.choose(prompt, ["yes", "no"])
    assert second.call.cached and not first.call.cached
    assert (second.option, second.confidence, second.logprobs) == (first.option, first.confidence, first.logprobs)
    assert again.stats() == {"calls": 1, "cache_hits": 1}
    spans = llm.extract_spans(EXTRACT.format(title=TITLE), TITLE, ["Brand"])
    assert again.extract_spans(EXTRACT.format(title=TITLE), TITLE, ["Brand"]).value == spans.value


def test_no_cache_calls_the_model_again(llm, packaged_gguf, shelfgraph_home):
    llm.choose(DECIDE, ["yes", "no"])
    fresh = get_llm(LLMConfig(model=str(packaged_gguf), use_cache=False), shelfgraph_home)
    assert not fresh.choose(DECIDE, ["yes", "no"]).call.cached


def test_every_call_is_logged_and_listed_by_shelfgraph_logs(llm):
    from shelfgraph.cli import app

    prompt = RenderedPrompt(DECIDE, "decide", "v1", "decide@v1#abc")
    llm.choose(prompt, ["yes", "no"])
    llm.choose(prompt, ["yes", "no"])
    out = CliRunner().invoke(app, ["logs", "--json", "-n", "5"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["cached"] for r in rows] == [1, 0]
    assert all(r["prompt_ref"] == "decide@v1#abc" and r["model"] == llm.model_name for r in rows)
    assert rows[1]["tokens_in"] > 0 and rows[1]["latency_ms"] > 0
    table = CliRunner().invoke(app, ["logs"], env={"COLUMNS": "200"})
    assert "decide@v1#abc" in table.output


def test_output_cut_short_fails_with_a_clear_error_and_is_not_cached(llm):
    with pytest.raises(LLMError) as error:
        llm.structured(JSON_PROMPT.format(title=TITLE), Product, max_tokens=3)
    assert llm.model_name in str(error.value) and error.value.attempts >= 1
    # like instructor's exceptions: the last raw output (3 tokens of JSON) and every attempt's tokens
    assert error.value.last_output and error.value.last_output.startswith("{")
    assert error.value.tokens_out == 3 * error.value.attempts and error.value.tokens_in > 0
    with pytest.raises(LLMError):  # nothing was cached from the failure: it fails again
        llm.structured(JSON_PROMPT.format(title=TITLE), Product, max_tokens=3)


def test_values_with_quotes_and_backslashes_work_under_the_grammar(llm):
    # llama-cpp-python's own converter mis-escapes these; llama.cpp then rejects the grammar
    title = 'Lodge Pizza Stone 12" Round \\ Cast Iron'
    model = grounded_model(title, ["Size"])
    answer = llm.structured(f"Title: {title}\nJSON: ", model, max_tokens=32).value
    span = answer.spans()["Size"]
    assert span is None or title[span.start:span.end] == span.value
