"""Any OpenAI-compatible provider: the API key (option, then environment), the server kind each
server is detected as and why, and the structured-output mode each kind is sent.

The key is tested against a real `llama_cpp.server` started with `--api_key`; vLLM, llama.cpp's
`llama-server`, Ollama and OpenAI cannot be installed here, so their detection and wire format
are tested against a fake that answers the probe endpoints and records what it is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_support import FakeServer, chat_completion, start_llama_server, stop, type_agent_build
from pydantic import BaseModel
from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.context import LLMConfig
from shelfgraph.errors import ModelError
from shelfgraph.llm import LLMError, get_llm
from shelfgraph.llm.servers import KINDS, detect, resolve_api_key
from shelfgraph.store import Ledger

KEY = "sk-test-7f3a9c1e5b"
ENV = ("SHELFGRAPH_LLM_API_KEY", "OPENAI_API_KEY")
DECIDE = (
    "Title: Lipton Green Tea Bags | Type: tea | Answer: yes\n"
    "Title: Crest Toothpaste Mint | Type: coffee | Answer: no\n"
    "Title: Folgers Classic Roast Ground Coffee | Type: coffee | Answer:"
)
runner = CliRunner()


class Product(BaseModel):
    brand: str
    net_content: str


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


# -- the key -------------------------------------------------------------------------------
def test_the_key_comes_from_the_option_then_shelfgraph_then_openai_variables(monkeypatch):
    assert resolve_api_key(None) is None
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai")
    assert resolve_api_key(None) == "from-openai"
    monkeypatch.setenv("SHELFGRAPH_LLM_API_KEY", "from-shelfgraph")
    assert resolve_api_key(None) == "from-shelfgraph"
    assert resolve_api_key("from-option") == "from-option"


def test_the_key_is_left_out_of_config_dumps_and_reprs():
    config = LLMConfig(backend="http://127.0.0.1:9", api_key=KEY)
    assert KEY not in json.dumps(config.model_dump()) + config.model_dump_json() + repr(config) + str(config)
    assert config.api_key.get_secret_value() == KEY


def test_every_request_carries_the_key_and_an_echoed_key_is_redacted(shelfgraph_home):
    def refuse(path, body):
        return 401, {"error": {"message": f"Incorrect API key provided: {body['model']}-{KEY}"}}

    fake = FakeServer(refuse)
    try:
        llm = get_llm(LLMConfig(backend=fake.url, api_key=KEY, use_cache=False), shelfgraph_home)
        with pytest.raises(LLMError) as error:
            llm.structured("Brand of Folgers coffee?", Product)
    finally:
        fake.close()
    assert fake.authorizations == [f"Bearer {KEY}", f"Bearer {KEY}"]  # the model list, then the call
    assert fake.posts == 1  # a refused key is not retried
    message = str(error.value)
    assert "refused the API key" in message and "--api-key" in message and KEY not in message
    assert error.value.attempts == 1
    assert not _files_holding(KEY, shelfgraph_home)


# -- detection -----------------------------------------------------------------------------
def _models(owner: str) -> dict:
    return {"object": "list", "data": [{"id": "served-model", "object": "model", "owned_by": owner}]}


PROBES = {  # what each server answers to GET; anything else is a 404
    "vllm": ({"/v1/models": _models("vllm")}, "owned_by 'vllm'"),
    "llama_cpp": ({"/v1/models": _models("me")}, "owned_by 'me'"),
    "llama_server": ({"/v1/models": _models("llamacpp")}, "owned_by 'llamacpp'"),
    "llama_server (older, no owner)": ({"/v1/models": _models("organization-owner"),
                                        "/props": {"default_generation_settings": {"n_ctx": 2048}}}, "/props"),
    "ollama": ({"/v1/models": _models("library")}, "owned_by 'library'"),
    "ollama (a model outside its library)": ({"/v1/models": _models("someone"), "/api/version": {"version": "0.5.7"}},
                                            "/api/version"),
    "openai (any other server)": ({"/v1/models": _models("system")}, "no probe matched"),
}


@pytest.mark.parametrize("server", PROBES)
def test_each_server_kind_is_detected_from_its_own_answers(server):
    answers, reason = PROBES[server]
    fake = FakeServer(lambda path, body: (404, {}), get=lambda path: (200, answers[path]) if path in answers
                      else (404, {"detail": "Not Found"}))
    try:
        found = detect(fake.url, KEY)
    finally:
        fake.close()
    assert found.kind == server.split(" ")[0]
    assert found.model == "served-model" and reason in found.reason
    assert set(fake.authorizations) == {f"Bearer {KEY}"}


def test_openai_is_known_by_its_host_without_asking_and_needs_a_model(monkeypatch, shelfgraph_home):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    found = detect("https://api.openai.com/v1")  # no network here: a request would fail
    assert (found.kind, found.model) == ("openai", None) and "api.openai.com" in found.reason
    with pytest.raises(ModelError, match="--model"):
        get_llm(LLMConfig(backend="https://api.openai.com/v1"), shelfgraph_home)
    llm = get_llm(LLMConfig(backend="https://api.openai.com/v1", model="gpt-4o-mini"), shelfgraph_home)
    assert (llm.backend.kind, llm.model_name) == ("openai", "gpt-4o-mini")
    assert llm.backend.client.api_key == KEY and KEY not in repr(llm.backend)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_gets_the_structured_output_mode_it_supports_best(kind, shelfgraph_home):
    fake = FakeServer(lambda path, body: (200, chat_completion('{"brand": "Folgers", "net_content": "25.9 oz"}')))
    try:
        llm = get_llm(LLMConfig(backend=fake.url, kind=kind, model="chosen-model"), shelfgraph_home)
        assert llm.structured("Folgers Classic Roast Ground Coffee, 25.9 oz", Product).value.brand == "Folgers"
    finally:
        fake.close()
    [body] = fake.bodies
    assert body["model"] == "chosen-model"  # --model chooses the served model
    if kind == "llama_cpp":  # a forced tool call: json_schema gets HTTP 500 there
        assert body["tools"][0]["function"]["name"] == "Product" and "response_format" not in body
        return
    form = body["response_format"]
    assert form["type"] == "json_schema" and "tools" not in body
    schema = form["json_schema"]["schema"]
    assert set(schema["properties"]) == {"brand", "net_content"}
    if kind == "openai":
        assert form["json_schema"]["strict"] is True
        assert schema["additionalProperties"] is False and set(schema["required"]) == {"brand", "net_content"}
    else:
        assert "strict" not in form["json_schema"]


# -- a real server with a key ----------------------------------------------------------------
@pytest.fixture(scope="module")
def keyed_server(packaged_gguf, tmp_path_factory):
    process, url = start_llama_server(packaged_gguf, tmp_path_factory.mktemp("keyed") / "server.log", api_key=KEY)
    yield url
    stop(process)


def test_a_keyed_server_answers_the_key_from_the_option_or_the_environment(keyed_server, shelfgraph_home,
                                                                          monkeypatch):
    with_option = get_llm(LLMConfig(backend=keyed_server, api_key=KEY, use_cache=False), shelfgraph_home)
    assert with_option.backend.kind == "llama_cpp"
    assert with_option.choose(DECIDE, ["yes", "no"]).confidence is not None
    monkeypatch.setenv("SHELFGRAPH_LLM_API_KEY", KEY)
    from_environment = get_llm(LLMConfig(backend=keyed_server, use_cache=False), shelfgraph_home)
    assert from_environment.choose(DECIDE, ["yes", "no"]).confidence is not None
    assert not _files_holding(KEY, shelfgraph_home)


@pytest.mark.parametrize("key", ["wrong", "missing", "wrong, detection skipped"])
def test_a_wrong_or_missing_key_is_one_line_status_6_and_no_facts(key, keyed_server, demo_data, tmp_path,
                                                                  shelfgraph_home):
    options = {"wrong": ["--api-key", "sk-wrong"], "missing": [],
               "wrong, detection skipped": ["--api-key", "sk-wrong", "--llm-kind", "llama_cpp", "--model", "m"]}[key]
    store = tmp_path / "graph.db"
    result = type_agent_build(store, demo_data, tmp_path, keyed_server, *options)
    assert result.exit_code == ModelError.exit_code == 6, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.output
    assert ("needs an API key" if key == "missing" else "refused the API key") in line and "--api-key" in line
    with Ledger(store) as ledger:  # the batch was ingested; no step stored anything
        assert [f for f in ledger.facts(status=None) if f.provenance.step != "ingest"] == []
    assert "sk-wrong" not in line and not _files_holding("sk-wrong", tmp_path, shelfgraph_home)


def test_the_key_is_in_no_file_a_build_writes(keyed_server, demo_data, tmp_path, shelfgraph_home):
    store = tmp_path / "graph.db"
    result = type_agent_build(store, demo_data, tmp_path, keyed_server, "--api-key", KEY)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["llm"]["calls"] > 0
    with Ledger(store) as ledger:
        assert any(f.provenance.method == "agent" for f in ledger.facts(status=None))
        assert ledger.runs()[0].config["llm"]["backend"] == keyed_server  # the run record keeps the config
    assert not _files_holding(KEY, tmp_path, shelfgraph_home)  # the store, its WAL file, the call log


def _files_holding(secret: str, *folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*")
            if path.is_file() and secret.encode() in path.read_bytes()]


def test_check_llm_says_which_kind_and_why(shelfgraph_home):
    answers = {"/v1/models": _models("someone"), "/api/version": {"version": "0.5.7"}}
    fake = FakeServer(lambda path, body: (200, chat_completion('{"answer": "yes"}')),
                      get=lambda path: (200, answers[path]) if path in answers else (404, {}))
    try:
        result = runner.invoke(app, ["check-llm", "--llm", fake.url, "--api-key", KEY, "--json"])
    finally:
        fake.close()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["kind"], report["model"], report["structured_output"]) == ("ollama", "served-model", "JSON_SCHEMA")
    assert "/api/version" in report["why"] and report["decisions_with_logprobs"] is False
    assert KEY not in result.output


def test_check_llm_on_a_keyed_server_with_a_wrong_key_is_one_line_status_6(keyed_server):
    result = runner.invoke(app, ["check-llm", "--llm", keyed_server, "--api-key", "sk-wrong"])
    assert result.exit_code == 6
    [line] = result.stderr.strip().splitlines()
    assert "refused the API key" in line and "sk-wrong" not in line
