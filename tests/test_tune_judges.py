"""Tuning the judges (cleaning, synonyms): their examples are the questions the eval tasks ask,
corrupted as the cleaning task corrupts, and their loss is the softmax over the answer
options, the score the judge reads at inference. No model file needed: a tiny Gemma 3 built
from a config stands in for the base model where only the loss's arithmetic is checked."""

from __future__ import annotations

import random

import pytest

from shelfgraph.eval.datasets import load_records, record_to_product
from shelfgraph.agents.cleaning_agent import UsualValues
from shelfgraph.corruption import corrupt, gold_triples
from shelfgraph.registry import create
from shelfgraph.models import Product
from shelfgraph.steps import Pair, Triple
from shelfgraph.tuning.example import Piece, TuneExample


def test_cleaning_examples_are_the_eval_questions_with_corrupted_values_answered_no(demo_data):
    products = [record_to_product(r) for r in load_records(demo_data / "labelled.jsonl")[:40]]
    agent = create("cleaning", "agent")
    examples = agent.tuning_examples(products)
    labelled = corrupt(gold_triples(products), rate=0.3, seed=0)  # as `eval cleaning` corrupts
    assert len(examples) == len(labelled) > 100
    assert {e.source.split("|")[0] for e in examples} == {p.id for p in products if p.attributes}
    for example, item in zip(examples, labelled):
        assert example.answers == [" no" if item.corrupted else " yes"]
        assert example.pieces[0].options == [" yes", " no"]
        asked = item.triple.model_copy(update={"product": item.triple.product.model_copy(update={"attributes": {}})})
        assert example.prompt == str(agent._prompt(asked))  # the prompt `score` sends for this triple
        assert f'Is "{item.triple.value}" the {item.triple.attribute}?' in example.prompt
    share = sum(e.answers == [" no"] for e in examples) / len(examples)
    assert 0.25 <= share <= 0.31  # round(0.3 x n) chosen; a few have no usable wrong value
    assert {i.kind for i in labelled if i.corrupted} == {"swap", "other_attribute", "title_span"}


def test_cleaning_examples_show_no_demonstrations_as_the_tuned_agent_is_asked_zero_shot(demo_data):
    products = [record_to_product(r) for r in load_records(demo_data / "labelled.jsonl")[:12]]
    agent = create("cleaning", "agent", prompt="cleaning@v2")  # a prompt with demonstrations
    agent.initialize(products)  # similar trusted products indexed: a v2 question would show two
    tuned = create("cleaning", "agent", prompt="cleaning@v2", k=0)  # what an adapter's agent asks (k=0)
    for example, item in zip(agent.tuning_examples(products[:2]), corrupt(gold_triples(products[:2]), 0.3, 0)):
        asked = item.triple.model_copy(update={"product": item.triple.product.model_copy(update={"attributes": {}})})
        assert example.prompt == str(tuned._prompt(asked)) and example.prompt.count("Title:") == 1


def _shoe(i: int, brand: str, color: str, kind: str = "Shoes") -> Product:
    return Product(id=f"s{i}", title=f"{brand} Runner {color}", product_type=kind,
                   attributes={"Brand": [brand], "Color": [color]})


def test_usual_values_are_the_type_s_most_common_without_the_asked_product_s_own():
    shoes = [_shoe(0, "Crocs", "Red"), _shoe(1, "Crocs", "Blue"), _shoe(2, "Ecco", "Red"), _shoe(3, "Vans", "Tan"),
             _shoe(4, "Acme", "Green", kind="Toys")]
    usual = UsualValues(shoes)
    new = Product(id="n", title="Asics Runner Black", product_type="shoes")  # the type's spelling varies
    assert usual.usual(new, "Brand", 5) == ["Crocs", "Ecco", "Vans"]  # most common first, then first seen; no toy
    assert usual.usual(new, "Brand", 2) == ["Crocs", "Ecco"]
    assert usual.usual(shoes[2], "Brand", 5, leave_out=shoes[2]) == ["Crocs", "Vans"]  # Ecco only on itself
    assert usual.usual(shoes[0], "Color", 5, leave_out=shoes[0]) == ["Red", "Blue", "Tan"]  # Red on another too
    assert usual.usual(new, "Size", 5) == []


def test_v3_examples_show_usual_values_of_the_other_training_products_as_inference_shows_the_training_ones():
    shoes = [_shoe(0, "Crocs", "Red"), _shoe(1, "Crocs", "Blue"), _shoe(2, "Ecco", "Red")]
    agent = create("cleaning", "agent", prompt="cleaning@v3", k=0)
    examples = agent.tuning_examples(shoes)
    ecco_brand = next(e for e in examples if e.source == "s2|Brand")
    assert "Usual Brand values: Crocs\n" in ecco_brand.prompt  # not Ecco: only s2 itself has it
    agent.initialize(shoes)
    asked = Triple(product=Product(id="n", title="Ecco Runner Red", product_type="Shoes"), attribute="Brand", value="Red")
    prompt = str(agent._prompt(asked))
    assert "Usual Brand values: Crocs; Ecco\n" in prompt and prompt.endswith('Is "Red" the Brand of this product?\nAnswer:')


def test_synonym_examples_are_yes_no_choices():
    agent = create("synonyms", "agent", k=0)
    pairs = [Pair(a="1M", b="1MB", label=1, attribute="Cache"), Pair(a="4MB", b="64MB", label=0, attribute="Cache"),
             Pair(a="2M", b="2MB", attribute="Cache")]  # unlabelled: no example
    examples = agent.tuning_examples(pairs)
    assert [e.answers for e in examples] == [[" yes"], [" no"]]
    assert examples[0].prompt == str(agent._render(pairs[0], []))


def test_a_choice_answer_must_be_one_of_its_options():
    with pytest.raises(ValueError, match="not in"):
        Piece(text=" maybe", answer=True, options=[" yes", " no"])
    with pytest.raises(ValueError, match="answer among"):
        Piece(text=" yes", options=[" yes", " no"])


def test_the_choice_loss_is_the_cross_entropy_of_the_softmax_over_the_options_only():
    pytest.importorskip("transformers")
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from shelfgraph.tuning.train import batch_loss, encode

    torch.manual_seed(0)
    causal = Gemma3ForCausalLM(Gemma3TextConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8)).eval()
    vocabulary = {" yes": 7, " no": 9, " maybe": 11}

    def tokenize(text: str, bos: bool) -> list[int]:
        return ([2] if bos else []) + [vocabulary.get(text, 3 + len(w) % 3) for w in ([text] if text in vocabulary
                                                                                       else text.split())]

    options = [" yes", " no"]
    examples = [TuneExample(prompt="is it right", pieces=[Piece(text=" no", answer=True, options=options)]),
                TuneExample(prompt="is this one right too", pieces=[Piece(text=" yes", answer=True, options=options)])]
    encoded = encode(examples, tokenize)
    with torch.no_grad():
        loss, tokens, _ = batch_loss(causal, encoded)
        expected = 0.0
        for item, gold in zip(encoded, [9, 7]):
            logits = causal(input_ids=torch.tensor([item.ids[:-1]])).logits[0, -1]
            pair = logits[[7, 9]]
            expected -= float(torch.log_softmax(pair, -1)[[7, 9].index(gold)])
            full = -float(torch.log_softmax(logits, -1)[gold])
            assert full > -float(torch.log_softmax(pair, -1)[[7, 9].index(gold)])  # not the whole vocabulary's
    assert tokens == 2 and float(loss) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="one distinct token"):
        encode([TuneExample(prompt="q", pieces=[Piece(text=" yes", answer=True, options=[" yes", "yes no"])])],
               tokenize)


def test_relations_tuning_leaves_out_the_categories_eval_applicability_hides(demo_data):
    """The hidden categories are taken from the eval's own output, not from the helper the
    tune shares with it: none is a tuning item, known to the agent, or in any prompt."""
    from shelfgraph.eval.tasks import evaluate_applicability
    from shelfgraph.cli.tune_command import known_category_keys
    from shelfgraph.ingest import read_taxonomy
    from shelfgraph.models import TaxonomyNode

    taxonomy = demo_data / "taxonomy"
    nodes = [item for item in read_taxonomy(taxonomy) if isinstance(item, TaxonomyNode)]
    _, rows = evaluate_applicability(nodes, sample=20, seed=3, method="baseline")
    hidden = {row["id"] for row in rows}
    agent = create("relations", "agent", examples=0)
    keys = known_category_keys(agent, taxonomy, sample=20, seed=3)
    assert len(hidden) == 20 and len(keys) == sum(bool(n.attributes) for n in nodes) - 20
    assert not set(keys) & set(_keys(nodes, hidden)) and not set(agent.known) & set(_keys(nodes, hidden))
    examples = agent.tuning_examples(keys[::10])
    assert examples and all(e.source.split("|")[0] in keys for e in examples)
    hidden_lines = {f"Category: {k}\n" for k in _keys(nodes, hidden)}
    assert not any(line in e.prompt for e in examples for line in hidden_lines)
    for example in examples:  # yes exactly for the category's own attributes
        key, attribute = example.source.split("|")
        assert example.answers == [" yes" if attribute in agent.known[key] else " no"]
        assert f"Category: {key}\n{attribute}:" in example.prompt  # asked as at inference
    assert {" yes", " no"} == {a for e in examples for a in e.answers}


def _keys(nodes, ids: set[str]) -> list[str]:
    from shelfgraph.eval.tasks import PATH_SEPARATOR
    from shelfgraph.models import path_names

    by_id = {n.id: n for n in nodes}
    return [PATH_SEPARATOR.join(path_names(by_id[i], by_id)) for i in ids]


def test_the_training_order_is_not_the_corruption_s_random_stream():
    """Corrupted with seed 0 and shuffled with seed 0 by the same generator, the first 288 of
    5,878 examples were all clean; the order's own stream mixes them as chance would."""
    from shelfgraph.tuning.train import epoch_order

    n = 5878
    corrupted = set(random.Random(0).sample(range(n), round(0.3 * n)))  # as `corrupt(..., seed=0)` chooses
    first = epoch_order(n, seed=0, epoch=0)[:288]
    assert 0.2 < sum(i in corrupted for i in first) / len(first) < 0.4
    assert epoch_order(n, 0, 0) == epoch_order(n, 0, 0) != epoch_order(n, 0, 1)


def test_hypernym_tuning_leaves_out_the_leaves_eval_hypernym_hides(demo_data):
    """The hidden leaves are taken from the eval's own output: none is a tuning item, known to
    the agent, asked about or offered as a candidate. Each tuning leaf is asked its parent
    (yes) and hard negatives (no), never a node named as its parent, as the tuned judge asks."""
    from shelfgraph.cli.tune_command import known_leaves
    from shelfgraph.eval.tasks import evaluate_hypernym
    from shelfgraph.ingest import read_taxonomy
    from shelfgraph.models import TaxonomyNode

    taxonomy = demo_data / "taxonomy"
    nodes = [item for item in read_taxonomy(taxonomy) if isinstance(item, TaxonomyNode)]
    by_id = {n.id: n for n in nodes}
    _, rows = evaluate_hypernym(nodes, sample=15, seed=3, method="baseline")
    hidden = {row["id"] for row in rows}
    agent = create("hypernym", "agent", retrieve=8, candidates=8)
    leaves = known_leaves(agent, taxonomy, sample=15, seed=3)
    inner = {n.parent for n in nodes}
    assert len(hidden) == 15 and len(leaves) == sum(bool(n.parent) and n.id not in inner for n in nodes) - 15
    assert not hidden & set(leaves) and not hidden & set(agent.nodes)
    examples = agent.tuning_examples(leaves[:12])
    hidden_names = {by_id[i].name for i in hidden} - {n.name for n in nodes if n.id not in hidden}
    assert not any(f"Category: {name}\nParent:" in e.prompt or e.pieces[0].text == f" {name}?"
                   for e in examples for name in hidden_names)
    for example in examples:
        leaf, node = example.source.split("|")
        assert example.prompt.endswith(f"Category: {by_id[leaf].name}\nParent:")  # zero-shot, as tuned
        assert example.pieces[0].text == f" {by_id[node].name}?" and not example.pieces[0].answer
        parent = by_id[by_id[leaf].parent]
        assert example.answers == [" yes" if node == parent.id else " no"]
        assert node == parent.id or by_id[node].name != parent.name
    per_leaf = {leaf: [e.answers[0] for e in examples if e.source.startswith(f"{leaf}|")] for leaf in leaves[:12]}
    assert all(answers[0] == " yes" and answers[1:] == [" no"] * agent.negatives for answers in per_leaf.values())


def test_relations_hybrid_validation_is_neither_tested_nor_tuned_on(demo_data):
    """`tune_hybrids.py relations` fits its stack on the categories `tune relations
    --hide-sample 60` hid that `eval applicability --sample 20` (same seed) does not test on,
    taken from both commands' own outputs. On the demo taxonomy the 20-draw is not the 60-draw's
    first 20 (`random.sample` switches algorithm), so the test categories go out by id."""
    import importlib.util
    from pathlib import Path

    from shelfgraph.cli.tune_command import known_category_keys
    from shelfgraph.eval.tasks import evaluate_applicability, hidden_categories
    from shelfgraph.ingest import read_taxonomy
    from shelfgraph.models import TaxonomyNode

    script = Path(__file__).resolve().parents[1] / "scripts" / "tune_hybrids.py"
    spec = importlib.util.spec_from_file_location("tune_hybrids", script)
    tune_hybrids = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tune_hybrids)
    taxonomy = demo_data / "taxonomy"
    nodes = [item for item in read_taxonomy(taxonomy) if isinstance(item, TaxonomyNode)]
    tested = [row["id"] for row in evaluate_applicability(nodes, sample=20, seed=3, method="baseline")[1]]
    drawn = [row["id"] for row in evaluate_applicability(nodes, sample=60, seed=3, method="baseline")[1]]
    hidden, validation = tune_hybrids.held_out_split(hidden_categories, nodes, hide_sample=60, hide_seed=3,
                                                      test_sample=20)
    tuned = known_category_keys(create("relations", "agent", examples=0), taxonomy, sample=60, seed=3)
    ids = [n.id for n in validation]
    assert hidden == set(drawn) and ids == [i for i in drawn if i not in tested]
    assert drawn[:20] != tested and len(ids) >= 40  # not a prefix here
    assert not set(ids) & set(tested) and not set(_keys(nodes, set(ids))) & set(tuned)
