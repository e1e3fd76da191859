"""The LLM layer against a real llama_cpp.server on 127.0.0.1 serving the packaged model,
and against injected faults: a server killed mid-run, one that answers garbage, one that hangs."""

from __future__ import annotations

import time

import pytest
from llm_support import FakeServer, chat_completion, start_llama_server, stop
from pydantic import BaseModel

from shelfgraph.context import LLMConfig
from shelfgraph.llm import LLMError, get_llm
from shelfgraph.llm.remote import TRANSPORT_ATTEMPTS
from shelfgraph.prompting import RenderedPrompt

TITLE = "Folgers Classic Roast Ground Coffee, 25.9 oz"
PROMPT = RenderedPrompt(
    f"Give the brand and the net content of this product as JSON.\nTitle: {TITLE}\n",
    "extract", "v1", "extract@v1#0123456789ab",
)
DECIDE = (
    "Title: Lipton Green Tea Bags | Type: tea | Answer: yes\n"
    "Title: Crest Toothpaste Mint | Type: coffee | Answer: no\n"
    "Title: Folgers Classic Roast Ground Coffee | Type: coffee | Answer:"
)


class Product(BaseModel):
    brand: str
    net_content: str


@pytest.fixture(scope="session")
def llama_server(packaged_gguf, tmp_path_factory):
    process, url = start_llama_server(packaged_gguf, tmp_path_factory.mktemp("server") / "server.log")
    yield url
    stop(process)


@pytest.fixture
def served(llama_server, shelfgraph_home):
    return get_llm(LLMConfig(backend=llama_server), shelfgraph_home)


def test_the_server_kind_and_model_are_detected(served):
    assert served.backend.kind == "llama_cpp"
    assert served.model_name == "gemma-3-270m-q4_k_m"


def test_structured_extraction_parses_into_the_response_model(served):
    result = served.structured(PROMPT, Product, max_tokens=96)
    assert isinstance(result.value, Product)
    assert result.call.tokens_in > 0 and result.call.prompt_ref == PROMPT.ref


def test_grounded_values_are_substrings_at_the_recorded_offsets(served):
    spans = served.extract_spans(PROMPT, TITLE, ["Brand", "Net content"]).value
    assert set(spans) == {"Brand", "Net content"}
    for span in spans.values():
        assert span is None or TITLE[span.start:span.end] == span.value

    # the server's grammar converter cannot escape `"`: such spans are left out, not an HTTP 500
    title = 'Lodge Pizza Stone 12" Round'
    size = served.extract_spans(f"Give the size of: {title}", title, ["Size"]).value["Size"]
    assert size is None or (title[size.start:size.end] == size.value and '"' not in size.value)


def test_a_decision_carries_a_logprob_confidence(served):
    choice = served.choose(DECIDE, ["yes", "no"])
    assert choice.option in {"yes", "no"}
    assert choice.confidence is not None and 0.5 <= choice.confidence <= 1
    assert set(choice.logprobs) == {"yes", "no"}


def test_a_repeated_call_is_served_from_the_cache(served, shelfgraph_home):
    first = served.choose(DECIDE, ["yes", "no"])
    server_down = get_llm(LLMConfig(backend="http://127.0.0.1:9", kind="llama_cpp", model=served.model_name),
                          shelfgraph_home)  # nothing listens on port 9: any model call would fail
    second = server_down.choose(DECIDE, ["yes", "no"])
    assert second.call.cached and (second.option, second.logprobs) == (first.option, first.logprobs)


def test_a_server_killed_mid_run_gives_bounded_retries_then_a_clear_error(packaged_gguf, tmp_path, shelfgraph_home):
    process, url = start_llama_server(packaged_gguf, tmp_path / "server.log")
    try:
        llm = get_llm(LLMConfig(backend=url, use_cache=False), shelfgraph_home)
        assert llm.backend.kind == "llama_cpp"  # the server was up and answering
    finally:
        stop(process)
    started = time.monotonic()
    with pytest.raises(LLMError) as error:
        llm.structured(PROMPT, Product, max_tokens=32)
    assert time.monotonic() - started < 30
    assert error.value.attempts == TRANSPORT_ATTEMPTS
    message = str(error.value)
    assert "gemma-3-270m-q4_k_m" in message and PROMPT.ref in message and "Connection" in message
    row = llm.log.recent(1)[0]
    assert row["error"] and row["output"] is None and row["attempts"] == TRANSPORT_ATTEMPTS


def test_garbage_answers_get_validation_retries_then_a_clear_error(shelfgraph_home):
    fake = FakeServer(lambda path, body: (200, chat_completion('{"brand": 3')))
    try:
        llm = get_llm(LLMConfig(backend=fake.url, max_retries=2), shelfgraph_home)
        with pytest.raises(LLMError) as error:
            llm.structured(PROMPT, Product)
    finally:
        fake.close()
    assert fake.posts == 3 and error.value.attempts == 3
    assert "fake-model" in str(error.value) and PROMPT.ref in str(error.value)
    # like instructor's exceptions: the last raw output and the tokens of all three attempts
    assert error.value.last_output == '{"brand": 3'
    assert (error.value.tokens_in, error.value.tokens_out) == (15, 9)
    assert (llm.log.recent(1)[0]["tokens_in"], llm.log.recent(1)[0]["tokens_out"]) == (15, 9)
    assert llm.log.recent(1)[0]["output"] is None  # no fact can come from it: nothing stored, nothing cached


def test_a_request_that_can_never_succeed_is_not_retried(shelfgraph_home):
    fake = FakeServer(lambda path, body: (500, {"error": {"message": "json_schema is not supported"}}))
    try:
        llm = get_llm(LLMConfig(backend=fake.url), shelfgraph_home)
        with pytest.raises(LLMError, match="500"):
            llm.structured(PROMPT, Product)
    finally:
        fake.close()
    assert fake.posts == 1


def test_a_hanging_server_times_out_within_the_call_timeout(shelfgraph_home):
    def hang(path, body):
        time.sleep(5)
        return 200, chat_completion("{}")

    fake = FakeServer(hang)
    try:
        llm = get_llm(LLMConfig(backend=fake.url, timeout_s=1.0), shelfgraph_home)
        started = time.monotonic()
        with pytest.raises(LLMError, match="Timeout"):
            llm.structured(PROMPT, Product)
        assert time.monotonic() - started < 5
    finally:
        fake.close()


def test_without_logprobs_for_every_option_the_confidence_is_none_not_invented(shelfgraph_home):
    def respond(path, body):
        if path.endswith("/completions") and "chat" not in path:  # " no" is not among the top tokens
            return 200, {"id": "c", "object": "text_completion", "created": 0, "model": "fake-model",
                         "choices": [{"index": 0, "text": " yes", "finish_reason": "length",
                                      "logprobs": {"tokens": [" yes"], "token_logprobs": [-0.1],
                                                   "top_logprobs": [{" yes": -0.1, " maybe": -2.5}],
                                                   "text_offset": [0]}}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
        return 200, chat_completion('{"answer": "no"}')

    fake = FakeServer(respond)
    try:
        choice = get_llm(LLMConfig(backend=fake.url), shelfgraph_home).choose(DECIDE, ["yes", "no"])
    finally:
        fake.close()
    assert (choice.option, choice.confidence, choice.logprobs) == ("no", None, None)
