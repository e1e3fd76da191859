"""The imputation, cleaning and synonym agents and the hybrids, on the real packaged Gemma 3
270M in-process, a real Chroma index and the real CRF baseline (bundled OA-Mine demo data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfgraph.eval.datasets import load_records, record_to_product
from shelfgraph.context import LLMConfig, StepContext
from shelfgraph.models import Product
from shelfgraph.registry import create
from shelfgraph.steps import Pair, Triple

DEMO_LABELLED = Path(__file__).resolve().parents[1] / "data" / "demo" / "labelled.jsonl"
COFFEE = Product(id="p1", title="Folgers Classic Roast Ground Coffee, 25.9 oz Canister", product_type="Coffee")


@pytest.fixture
def context(packaged_gguf: Path, shelfgraph_home: Path) -> StepContext:
    return StepContext(llm=LLMConfig(model=str(packaged_gguf)), home=shelfgraph_home)


@pytest.fixture(scope="module")
def coffee_and_tea() -> list[Product]:
    records = [r for r in load_records(DEMO_LABELLED) if r.category in ("Coffee", "Tea")]
    return [record_to_product(r) for r in records]


def test_imputed_values_are_spans_at_their_offsets(context: StepContext, coffee_and_tea: list[Product]) -> None:
    agent = create("imputation", "agent", context=context, k=2)
    agent.initialize(coffee_and_tea[:12])
    product = Product(id="new", title="Starbucks French Roast Whole Bean Coffee, 12 oz bag", product_type="Coffee",
                      description="Dark roast. Each bag holds 12 ounces of whole bean coffee from Latin America.")
    [found] = agent.predict([product], [["Brand", "Roast type", "Net content", "Item form"]])
    assert found, "the agent found nothing in a title full of values"
    for extraction in found:
        source = product.field_text(extraction.field)
        assert source[extraction.start:extraction.end] == extraction.value
        assert 0.0 < extraction.confidence <= 1.0
    assert {e.attribute: e.value for e in found}.get("Brand") == "Starbucks"
    signature = agent.signature()
    assert signature.method == "agent" and signature.prompt.startswith("imputation@v2#")


def test_cleaning_scores_are_probabilities_and_flag_the_wrong_value(context: StepContext) -> None:
    agent = create("cleaning", "agent", context=context, prompt="cleaning@v1", k=0)
    right = Triple(product=COFFEE, attribute="Brand", value="Folgers")
    wrong = Triple(product=COFFEE, attribute="Brand", value="Colgate Toothpaste")
    scores = agent.score([right, wrong])
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[1] > scores[0]


def test_synonym_scores_are_probabilities_and_rank_synonyms_first(context: StepContext) -> None:
    agent = create("synonyms", "agent", context=context, prompt="synonyms@v1")
    agent.initialize([])
    same = Pair(a="Hewlett-Packard", b="HP", attribute="Brand")
    different = Pair(a="Hewlett-Packard", b="Samsung", attribute="Brand")
    scores = agent.score([same, different])
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > scores[1]


def test_hybrid_asks_the_agent_only_what_the_baseline_missed(context: StepContext,
                                                             coffee_and_tea: list[Product]) -> None:
    hybrid = create("imputation", "hybrid", context=context, threshold=0.5, min_share=0.0, agent={"k": 0})
    hybrid.initialize(coffee_and_tea)
    agent = hybrid.parts.agent
    asked: list[tuple[list[Product], list[list[str]]]] = []
    real_predict = agent.predict

    def recording_predict(products, attributes):
        asked.append((list(products), [list(a) for a in attributes]))
        return real_predict(products, attributes)

    agent.predict = recording_predict
    products = [p.model_copy(update={"attributes": {}}) for p in coffee_and_tea[-3:]]
    wanted = [["Brand", "Flavor", "Net content", "Pack size"]] * len(products)
    baseline = hybrid.parts.baseline.predict(products, wanted)
    merged = hybrid.predict(products, wanted)

    confident = [{e.attribute: e.value for e in found if e.confidence >= 0.5} for found in baseline]
    expected = [(i, [a for a in wanted[i] if a not in confident[i]]) for i in range(len(products))]
    expected = [(i, ask) for i, ask in expected if ask]
    assert len(asked) == (1 if expected else 0)
    if expected:
        given, questions = asked[0]
        assert questions == [ask for _, ask in expected]
        for (i, _), product in zip(expected, given):  # the baseline's confident values are given
            assert {a: v[0] for a, v in product.attributes.items()} == confident[i]
    for found, sure in zip(merged, confident):  # confident baseline values are kept as they were
        assert {a: v for a, v in ((e.attribute, e.value) for e in found) if a in sure} == sure
    assert hybrid.signature().method == "hybrid"
    assert hybrid.stats()["agent_asked"] == len(expected)

    # an attribute the baseline left empty is asked only if enough of the type's products have it
    hybrid.min_share = 1.01
    asked.clear()
    hybrid.predict(products, wanted)
    unsure = [{e.attribute for e in found if e.confidence < 0.5} for found in baseline]
    asked_attributes = [set(a) for call in asked for a in call[1]]
    assert asked_attributes == [u for u in unsure if u]


def test_scored_hybrid_blends_with_the_configured_weight(context: StepContext) -> None:
    pairs = [Pair(a="2MB", b="2 MB", label=1, attribute="Cache"), Pair(a="2MB", b="512KB", label=0, attribute="Cache"),
             Pair(a="1GB", b="1 GB", label=1, attribute="Cache"), Pair(a="1GB", b="8MB", label=0, attribute="Cache")]
    hybrid = create("synonyms", "hybrid", context=context, weight=0.25, prompt="synonyms@v1")
    hybrid.initialize(pairs)
    test = [Pair(a="4MB", b="4 MB", attribute="Cache")]
    expected = 0.25 * hybrid.parts.agent.score(test)[0] + 0.75 * hybrid.parts.baseline.score(test)[0]
    assert hybrid.score(test)[0] == pytest.approx(expected)


def test_an_agent_eval_gives_the_same_predictions_in_a_home_where_other_training_sets_were_indexed(
        packaged_gguf: Path, tmp_path: Path) -> None:
    """Retrieval reads the run's own training set only: the same eval, first in a fresh home,
    then in a home where a larger training set of the same categories was indexed before,
    shows the model the same demonstrations and predicts the same values. Each eval is its own
    process, as a user runs them (in one process llama.cpp's reused KV cache makes outputs
    depend on earlier calls)."""
    import json
    import os
    import subprocess
    import sys
    import time

    from shelfgraph.llm.calllog import CallLog

    lines = DEMO_LABELLED.read_text().splitlines()
    coffee = [line for line in lines if json.loads(line)["category"] == "Coffee"]
    tea = [line for line in lines if json.loads(line)["category"] == "Tea"]
    files = {"small": coffee[:8] + tea[:8], "large": coffee[8:50] + tea[8:50], "test": coffee[58:60]}
    for name, rows in files.items():
        (tmp_path / f"{name}.jsonl").write_text("\n".join(rows) + "\n")

    def run(home: str, train: str) -> tuple[list[dict], list[str]]:
        started = time.time()
        out = tmp_path / f"{home}-{train}.jsonl"
        env = dict(os.environ, SHELFGRAPH_HOME=str(tmp_path / home), PYTHONPATH=str(DEMO_LABELLED.parents[2]))
        done = subprocess.run([
            sys.executable, "-m", "shelfgraph", "eval", "extraction", "--train", str(tmp_path / f"{train}.jsonl"),
            "--test", str(tmp_path / "test.jsonl"), "--method", "agent", "--model", str(packaged_gguf),
            "--set", "k=2", "--predictions", str(out), "--runs-dir", str(tmp_path / "runs"), "--no-progress"],
            capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        calls = [row for row in CallLog(tmp_path / home / "logs.db").recent(100) if row["at"] >= started]
        prompts = sorted(json.loads(row["input"])["prompt"] for row in calls)
        return [json.loads(line) for line in out.read_text().splitlines()], prompts

    fresh = run("fresh", "small")
    run("shared", "large")
    again = run("shared", "small")
    assert again[1] == fresh[1]  # the same demonstrations in every prompt
    assert again[0] == fresh[0]
