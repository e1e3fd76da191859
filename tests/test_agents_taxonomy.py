"""Type, hypernym and relations agents on the packaged Gemma 3 270M, in-process, with a real
Chroma index, over the bundled demo data (small inputs: the model answers a few dozen calls)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfgraph.eval.datasets import load_records, record_to_product
from shelfgraph.context import LLMConfig, StepContext
from shelfgraph.ingest import read_taxonomy
from shelfgraph.models import TaxonomyNode
from shelfgraph.prompting import PromptNotFoundError
from shelfgraph.registry import create
from shelfgraph.steps import RelationQuery

from shelfgraph.agents.relations_agent import nodes_from_paths


@pytest.fixture
def context(packaged_gguf: Path, shelfgraph_home: Path, tmp_path: Path) -> StepContext:
    return StepContext(llm=LLMConfig(model=str(packaged_gguf)), home=shelfgraph_home, index_dir=tmp_path / "index")


@pytest.fixture
def taxonomy(demo_data: Path):
    return [n for n in read_taxonomy(demo_data / "taxonomy") if isinstance(n, TaxonomyNode)]


def test_type_agent_finds_a_span_of_the_title_at_its_offsets(context: StepContext, demo_data: Path) -> None:
    records = load_records(demo_data / "labelled.jsonl")
    step = create("type", "agent", context=context)
    step.initialize([record_to_product(r) for r in records[:120]])
    assert step.demos, "demonstrations come from training titles that contain their type"
    products = [record_to_product(r).model_copy(update={"product_type": None, "attributes": {}})
                for r in records[-3:]]
    found = step.predict(products)
    assert len(found) == len(products) and any(found)
    for product, extraction in zip(products, found):
        if extraction is not None:
            assert extraction.field == "title"
            assert product.title[extraction.start:extraction.end] == extraction.value
            assert 0.0 < extraction.confidence <= 1.0
    signature = step.signature()
    assert (signature.method, signature.model) == ("agent", step.llm.model_name)
    assert signature.prompt.startswith("type@v1#")


def test_type_prompt_versions_differ_in_their_demonstrations(context: StepContext, demo_data: Path) -> None:
    records = load_records(demo_data / "labelled.jsonl")
    train = [record_to_product(r) for r in records[:120]]
    rendered = {}
    for version in ("v1", "v2"):
        step = create("type", "agent", context=context, prompt=f"type@{version}")
        step.initialize(train)
        title = records[-1].title
        rendered[version] = step.prompt.render(fixed_examples=step._fixed, nearest_examples=step._nearest([title])[0],
                                               title=title).text
        assert step.signature().prompt.startswith(f"type@{version}#")
    assert rendered["v1"] != rendered["v2"]
    assert all(text.rstrip().endswith(records[-1].title) for text in rendered.values())


def test_an_unknown_prompt_version_fails_naming_the_known_ones(context: StepContext) -> None:
    with pytest.raises(PromptNotFoundError, match="v1, v2"):
        create("hypernym", "agent", context=context, prompt="hypernym@v9")


def test_hypernym_agent_ranks_retrieved_candidates_with_logprob_confidence(context: StepContext, taxonomy) -> None:
    parents = {n.parent for n in taxonomy if n.parent}
    leaves = [n for n in taxonomy if n.id not in parents and n.parent]
    hidden = random.Random(1).sample(leaves, 3)
    hidden_ids = {n.id for n in hidden}
    step = create("hypernym", "agent", context=context)
    step.initialize([n for n in taxonomy if n.id not in hidden_ids])
    ranked = step.rank([n.name for n in hidden], k=3)
    assert len(ranked) == len(hidden)
    for node, scored in zip(hidden, ranked):
        candidates = step.candidates([node.name])[0]
        assert scored and [s.label for s in scored] == [s.label for s in scored if s.label in candidates]
        assert node.id not in {s.label for s in scored}, "a hidden node is never proposed"
        scores = [s.score for s in scored]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores) and sum(scores) <= 1.0 + 1e-9
        assert scores[0] > 0.0
    assert step.signature().prompt.startswith("hypernym@v2#")
    assert step.stats()["agent_items"] == len(hidden) and step.stats()["agent_s_per_item"] > 0


def test_hypernym_agent_candidates_start_with_the_nodes_named_with_the_head_word(context: StepContext,
                                                                                taxonomy) -> None:
    """With room for one nearest node, the nodes named "... Coffee" (and their parents) still
    come first among the candidates; a third of them at most."""
    step = create("hypernym", "agent", context=context, retrieve=1, candidates=9)
    step.initialize(taxonomy)
    by_id = {n.id: n for n in taxonomy}
    found = step.candidates(["Cold Brew Coffee"])[0]
    names = [by_id[i].name for i in found]
    assert "Coffee" in names[:3]
    assert set(found[:3]) <= {i for n in taxonomy if n.name.endswith("Coffee") for i in (n.id, n.parent)}
    assert len(found) <= 9 and len(set(found)) == len(found)


def test_relations_agent_scores_retrieved_attributes_in_unit_interval(context: StepContext, taxonomy) -> None:
    by_id = {n.id: n for n in taxonomy}

    def path(node):
        names, parent = [], by_id.get(node.parent)
        while parent is not None:
            names.append(parent.name)
            parent = by_id.get(parent.parent)
        return names[::-1]

    with_attributes = [n for n in taxonomy if n.attributes and n.parent]
    hidden = random.Random(2).sample(with_attributes, 2)
    hidden_ids = {n.id for n in hidden}
    known = {" > ".join([*path(n), n.name]): n.attributes for n in taxonomy if n.attributes and n.id not in hidden_ids}
    inventory = {a for attributes in known.values() for a in attributes}
    step = create("relations", "agent", context=context, max_candidates=6)
    step.initialize(known, [n for n in taxonomy if n.id not in hidden_ids])
    predicted = step.predict([RelationQuery(type_name=n.name, path=path(n)) for n in hidden])
    assert len(predicted) == 2
    for scores in predicted:
        assert 0 < len(scores) <= 6
        assert {s.attribute for s in scores} <= inventory
        assert [s.applicable for s in scores] == sorted((s.applicable for s in scores), reverse=True)
        for s in scores:
            assert 0.0 <= s.applicable <= 1.0
            if s.applicable >= 0.5:
                assert s.importance is not None and 0.0 <= s.importance <= 1.0
            else:
                assert s.importance is None


def test_relations_agent_finds_candidates_for_plain_type_names_as_the_pipeline_gives_them(
        context: StepContext, taxonomy, demo_data: Path) -> None:
    """The pipeline's known types are labelled type names ("coffee"), not taxonomy paths: those
    naming a taxonomy node are found through it, the others ("vitamin") are indexed as they are."""
    products = [record_to_product(r) for r in load_records(demo_data / "labelled.jsonl")]
    known: dict[str, set[str]] = {}
    for product in products:
        known.setdefault(product.product_type.lower(), set()).update(product.attributes)
    step = create("relations", "agent", context=context, max_candidates=4, rate_importance=False)
    step.initialize({t: sorted(a) for t, a in known.items()}, taxonomy)
    assert set(step.key_of.values()) == set(known)
    for name, path in (("cold brew coffee", ["Food, Beverages & Tobacco", "Beverages", "Coffee"]),
                       ("multivitamin gummies", [])):
        similar = step._similar(RelationQuery(type_name=name, path=path))
        assert similar and set(similar) <= set(known)
        [scores] = step.predict([RelationQuery(type_name=name, path=path)])
        assert scores and {s.attribute for s in scores} <= set().union(*known.values())
    assert "coffee" in step._similar(RelationQuery(type_name="cold brew coffee", path=[]))
    assert "vitamin" in step._similar(RelationQuery(type_name="multivitamin gummies", path=[]))


def test_known_paths_rebuild_a_taxonomy_for_retrieval() -> None:
    nodes = {n.id: n for n in nodes_from_paths(["Apparel > Shoes > Boots", "Apparel > Shirts", "Toys"])}
    assert set(nodes) == {"Apparel", "Apparel > Shoes", "Apparel > Shoes > Boots", "Apparel > Shirts", "Toys"}
    assert nodes["Apparel > Shoes > Boots"].name == "Boots"
    assert nodes["Apparel > Shoes > Boots"].parent == "Apparel > Shoes"
    assert nodes["Apparel"].parent is None


def test_eval_cli_rejects_a_prompt_for_a_method_without_one(demo_data: Path) -> None:
    from shelfgraph.cli import app

    result = CliRunner().invoke(app, ["eval", "hypernym", "--taxonomy", str(demo_data / "taxonomy"),
                                      "--method", "baseline", "--prompt", "hypernym@v1", "--sample", "2"])
    assert result.exit_code != 0
    assert "does not take prompt" in result.output
    result = CliRunner().invoke(app, ["eval", "hypernym", "--taxonomy", str(demo_data / "taxonomy"),
                                      "--method", "baseline", "--set", "weight=0.3", "--sample", "2"])
    assert result.exit_code != 0
    assert "does not take weight" in result.output


def test_hypernym_hybrid_blends_both_rankings_with_a_missing_candidate_at_zero(context: StepContext,
                                                                              taxonomy) -> None:
    parents = {n.parent for n in taxonomy if n.parent}
    hidden = random.Random(3).sample([n for n in taxonomy if n.id not in parents and n.parent], 2)
    known = [n for n in taxonomy if n.id not in {h.id for h in hidden}]
    hybrid = create("hypernym", "hybrid", context=context, weight=0.3)
    hybrid.initialize(known)
    names = [n.name for n in hidden]
    agent = {i: {s.label: s.score for s in r} for i, r in enumerate(hybrid.parts.agent.rank(names, k=5))}
    baseline = {i: {s.label: s.score for s in r} for i, r in enumerate(hybrid.parts.baseline.rank(names, k=5))}
    for i, ranked in enumerate(hybrid.rank(names, k=5)):
        assert len(ranked) == 5
        for scored in ranked:
            expected = 0.3 * agent[i].get(scored.label, 0.0) + 0.7 * baseline[i].get(scored.label, 0.0)
            assert scored.score == pytest.approx(expected)
        assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)
        left_out = (set(agent[i]) | set(baseline[i])) - {s.label for s in ranked}
        assert all(0.3 * agent[i].get(label, 0.0) + 0.7 * baseline[i].get(label, 0.0) <= ranked[-1].score + 1e-9
                   for label in left_out)
