"""The corruption generator, the synonym pair builder, and each task's metrics on tiny cases.

The task metrics are checked by hand with scripted steps registered under the method name
"scripted": their answers are fixed, so the expected numbers can be worked out on paper.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelfgraph.corruption import corrupt, gold_triples
from shelfgraph.eval.datasets import Record
from shelfgraph.eval.pairs import aligned_values, build_pairs, build_wdc_pair_files, collect_values, read_pairs, write_pairs
from shelfgraph.eval.tasks import (evaluate_applicability, evaluate_cleaning, evaluate_hypernym, evaluate_synonyms, evaluate_type,
                        sample_leaves)
from shelfgraph import registry
from shelfgraph.models import Product, TaxonomyNode, normalise_label
from shelfgraph.stages.cleaning import CleaningStep
from shelfgraph.stages.hypernym import HypernymStep
from shelfgraph.stages.relations import RelationStep
from shelfgraph.stages.synonyms import SynonymStep
from shelfgraph.stages.type import TypeStep
from shelfgraph.steps import AttributeScore, Extraction, Pair, Scored


def _products() -> list[Product]:
    return [
        Product(id="p1", title="Lavazza Espresso Dark Roast Ground Coffee 12 oz", product_type="Coffee",
                attributes={"Brand": ["Lavazza"], "Roast": ["Dark Roast"], "Net content": ["12 oz"]}),
        Product(id="p2", title="Lavazza Crema e Gusto Ground Coffee 8.8 oz", product_type="Coffee",
                attributes={"Brand": ["Lavazza", "LAVAZZA"], "Net content": ["8.8 oz"]}),
        Product(id="p3", title="Folgers Classic Medium Roast 30.5 oz", product_type="Coffee",
                attributes={"Brand": ["Folgers"], "Roast": ["Medium Roast"], "Net content": ["30.5 oz"]}),
        Product(id="p4", title="Twinings Earl Grey Tea 20 bags", product_type="Tea",
                attributes={"Brand": ["Twinings"], "Flavor": ["Earl Grey"], "Pack size": ["20 bags"]}),
    ]


# ------------------------------------------------------------------ corruption generator
@pytest.mark.parametrize("seed", range(25))
def test_corruption_never_labels_an_unchanged_triple_as_corrupted(seed: int) -> None:
    triples = gold_triples(_products())
    labelled = corrupt(triples, rate=0.6, seed=seed)
    assert len(labelled) == len(triples)
    for original, item in zip(triples, labelled):
        gold = {normalise_label(v) for v in original.product.attributes[original.attribute]}
        if item.corrupted:
            assert normalise_label(item.triple.value) not in gold
            assert item.original == original.value and item.kind is not None
        else:
            assert item.triple.value == original.value and item.kind is None


def test_corruption_is_seeded_and_covers_the_rate_and_every_kind() -> None:
    triples = gold_triples(_products())
    first = corrupt(triples, rate=0.5, seed=3)
    assert [i.model_dump() for i in first] == [i.model_dump() for i in corrupt(triples, rate=0.5, seed=3)]
    assert sum(i.corrupted for i in first) == round(0.5 * len(triples))
    kinds = {i.kind for seed in range(10) for i in corrupt(triples, rate=1.0, seed=seed)}
    assert kinds == {"swap", "other_attribute", "title_span"}
    assert not any(i.corrupted for i in corrupt(triples, rate=0.0))


def test_corruption_swap_uses_the_same_attribute_and_title_span_the_title() -> None:
    triples = gold_triples(_products())
    for item in corrupt(triples, rate=1.0, seed=1, kinds=("swap",)):
        if item.corrupted:
            pool = {t.value for t in triples if t.attribute == item.triple.attribute}
            assert item.triple.value in pool
    for item in corrupt(triples, rate=1.0, seed=1, kinds=("title_span",)):
        assert item.corrupted and item.triple.value in item.triple.product.title


def test_a_triple_with_no_usable_replacement_stays_clean() -> None:
    product = Product(id="x", title="Lavazza", product_type="Coffee", attributes={"Brand": ["Lavazza"]})
    [item] = corrupt(gold_triples([product]), rate=1.0, seed=0)
    assert not item.corrupted and item.triple.value == "Lavazza"


def test_gold_triples_skip_missing_values() -> None:
    product = Product(id="x", title="t", attributes={"Brand": ["n/a"], "Flavor": ["Mint", ""]})
    assert [(t.attribute, t.value) for t in gold_triples([product])] == [("Flavor", "Mint")]


# ------------------------------------------------------------------ pair builder
def _offer(offer_id: int, cluster: int, values: dict[str, list[str]]) -> dict:
    scores = {a: ({v: {"pid": [0], "score": 1} for v in vs} if vs else {"n/a": 1}) for a, vs in values.items()}
    return {"id": offer_id, "cluster_id": float(cluster), "category": "Computers", "input_title": "t",
            "input_description": "", "target_scores": scores}


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


RAW = [_offer(1, 10, {"Manufacturer": ["HP"], "Capacity": ["72-GB"], "Interface": ["SAS"]}),
       _offer(2, 20, {"Manufacturer": ["Hewlett Packard"], "Capacity": ["72GB", "146 GB"], "Interface": []}),
       _offer(3, 30, {"Manufacturer": ["Dell"], "Capacity": ["146GB"], "Interface": ["Serial Attached SCSI"]}),
       _offer(4, 30, {"Manufacturer": ["IBM"], "Capacity": ["1 TB", "2 TB", "3 TB"]})]
NORMALISED = [_offer(1, 10, {"Manufacturer": ["Hewlett-Packard"], "Capacity": ["72 Gigabytes"], "Interface": ["SAS interfaces"]}),
              _offer(2, 20, {"Manufacturer": ["Hewlett-Packard"], "Capacity": ["72 gigabytes", "146 Gigabytes"], "Interface": []}),
              _offer(3, 30, {"Manufacturer": ["Dell"], "Capacity": ["146 Gigabytes"], "Interface": ["SAS interfaces"]}),
              _offer(4, 30, {"Manufacturer": ["IBM"], "Capacity": ["1 Terabyte", "2 Terabytes"]})]


def test_aligned_values_pair_by_position_and_skip_ambiguous_counts() -> None:
    assert aligned_values(RAW[1], NORMALISED[1]) == {
        "Manufacturer": {"Hewlett Packard": {"hewlett-packard"}},
        "Capacity": {"72GB": {"72 gigabytes"}, "146 GB": {"146 gigabytes"}}}
    assert "Capacity" not in aligned_values(RAW[3], NORMALISED[3])  # 3 raw values, 2 normalised


def test_pair_builder_labels_shared_normalised_values_as_synonyms(tmp_path: Path) -> None:
    raw = _write_jsonl(tmp_path / "raw.jsonl", RAW)
    norm = _write_jsonl(tmp_path / "norm.jsonl", NORMALISED)
    values = collect_values(raw, norm)
    pairs = build_pairs(values, {("Computers", "Manufacturer"), ("Computers", "Capacity")},
                        negatives_per_positive=10)
    got = {(p.attribute, frozenset((p.a, p.b)), p.label) for p in pairs}
    assert got == {
        ("Computers/Manufacturer", frozenset({"HP", "Hewlett Packard"}), 1),
        ("Computers/Manufacturer", frozenset({"HP", "Dell"}), 0),
        ("Computers/Manufacturer", frozenset({"HP", "IBM"}), 0),
        ("Computers/Manufacturer", frozenset({"Hewlett Packard", "Dell"}), 0),
        ("Computers/Manufacturer", frozenset({"Hewlett Packard", "IBM"}), 0),
        ("Computers/Manufacturer", frozenset({"Dell", "IBM"}), 0),  # same cluster: a candidate
        ("Computers/Capacity", frozenset({"72-GB", "72GB"}), 1),
        ("Computers/Capacity", frozenset({"146 GB", "146GB"}), 1),
        ("Computers/Capacity", frozenset({"72-GB", "146 GB"}), 0),
        ("Computers/Capacity", frozenset({"72-GB", "146GB"}), 0),
        ("Computers/Capacity", frozenset({"72GB", "146 GB"}), 0),
        ("Computers/Capacity", frozenset({"72GB", "146GB"}), 0),
    }
    # Interface is a generalisation ("SAS" and "Serial Attached SCSI" share a class): not asked for, not built
    assert not any(p.attribute == "Computers/Interface" for p in pairs)


def test_pair_builder_samples_negatives_per_positive(tmp_path: Path) -> None:
    values = collect_values(_write_jsonl(tmp_path / "r.jsonl", RAW), _write_jsonl(tmp_path / "n.jsonl", NORMALISED))
    pairs = build_pairs(values, {("Computers", "Capacity")}, negatives_per_positive=1, seed=0)
    assert sum(p.label == 1 for p in pairs) == 2 and sum(p.label == 0 for p in pairs) == 2


def test_pair_files_round_trip_and_bad_files_name_the_problem(tmp_path: Path) -> None:
    pairs = [Pair(a="HP", b="Hewlett-Packard", label=1, attribute="Computers/Manufacturer"),
             Pair(a="8 GB", b="16 GB", label=0)]
    back = read_pairs(write_pairs(pairs, tmp_path / "p.csv"))
    assert [(p.a, p.b, p.label, p.attribute) for p in back] == [(p.a, p.b, p.label, p.attribute) for p in pairs]
    (tmp_path / "bad.csv").write_text("a,label\nx,1\n")
    with pytest.raises(ValueError, match="bad.csv:1: missing column"):
        read_pairs(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("a,b,label\nx,y,1\nx,z,yes\n")
    with pytest.raises(ValueError, match="bad2.csv:3: label must be 0 or 1"):
        read_pairs(tmp_path / "bad2.csv")


def test_wdc_pair_files_from_the_shared_data(shared_data: Path, tmp_path: Path) -> None:
    summary = build_wdc_pair_files(shared_data / "wdc-pave", tmp_path)
    train, test = read_pairs(tmp_path / "train.csv"), read_pairs(tmp_path / "test.csv")
    assert summary["train"]["pairs"] == len(train) and summary["test"]["positives"] == sum(p.label for p in test)
    assert 0 < sum(p.label for p in test) < len(test)
    assert not any(p.attribute.endswith("/Product Type") for p in train + test)


# ------------------------------------------------------------------ task metrics, scripted steps
class ScriptedType(TypeStep):
    """The last two words of the title; nothing for a title "?"."""

    def predict(self, products):
        assert all(p.product_type is None and not p.attributes for p in products)  # no gold leaks in
        return [None if p.title == "?" else Extraction(value=" ".join(p.title.split()[-2:])) for p in products]


class ScriptedHypernym(HypernymStep):
    """Ranks the nodes in a fixed order whatever the name: c, b, a, ..."""

    def initialize(self, taxonomy):
        self.ids = sorted((n.id for n in taxonomy), reverse=True)

    def rank(self, names, k=5):
        return [[Scored(label=i) for i in self.ids[:k]] for _ in names]

    def candidates(self, names, k=5):
        return [self.ids[:1] for _ in names]


class ScriptedRelations(RelationStep):
    """Every type gets "color" (0.9) and "size" (0.4)."""

    def initialize(self, known, taxonomy=()):
        self.known = known

    def predict(self, queries):
        return [[AttributeScore(attribute="color", applicable=0.9), AttributeScore(attribute="size", applicable=0.4)]
                for _ in queries]


class ScriptedCleaning(CleaningStep):
    """Flags a value not found in the product's title."""

    def score(self, triples):
        return [0.0 if t.value.lower() in t.product.title.lower() else 1.0 for t in triples]


class ScriptedSynonyms(SynonymStep):
    """Scores each pair by the number after ":" in its first string: "x:0.8" -> 0.8."""

    def score(self, pairs):
        return [float(p.a.split(":")[1]) for p in pairs]


def _scripted(cls):
    def factory(context=None):
        return cls()
    return factory


SCRIPTED = {"type": _scripted(ScriptedType), "hypernym": _scripted(ScriptedHypernym), "relations": _scripted(ScriptedRelations),
            "cleaning": _scripted(ScriptedCleaning), "synonyms": _scripted(ScriptedSynonyms)}


@pytest.fixture(scope="module", autouse=True)
def scripted_steps() -> None:
    for kind, factory in SCRIPTED.items():
        registry.register(kind, "scripted", factory)


def test_type_metrics_by_hand() -> None:
    def wdc(i, title, gold):
        return Record(id=f"w{i}", title=title, category="Office", gold={"Product Type": gold, "Brand": None})

    test = [wdc(1, "HP Toner Cartridge", ["Toner Cartridge"]), wdc(2, "Copy Paper Ream", ["Paper"]),
            wdc(3, "?", None), wdc(4, "?", ["Stapler"])]
    metrics, rows = evaluate_type(test, test, method="scripted")
    # VC, VW, NN, VN: P = 1 / (VC + VW) = 50, R = 1 / (VC + VW + VN) = 33.33, F1 = 40
    assert (metrics["VC"], metrics["VW"], metrics["NN"], metrics["VN"], metrics["NV"]) == (1, 1, 1, 1, 0)
    assert (metrics["precision"], metrics["recall"], metrics["f1"]) == (50.0, 33.33, 40.0)
    assert metrics["coverage"] == 0.5
    assert (rows[0]["id"], rows[0]["pred"], rows[0]["gold"]) == ("w1", "Toner Cartridge", ["Toner Cartridge"])

    def oa(i, title, category):
        return Record(id=f"o{i}", title=title, category=category, gold={"Brand": ["x"]})

    train = [oa(0, "Folgers Coffee", "Coffee"), oa(1, "Lipton Tea", "Tea")]
    test = [oa(2, "Lavazza Ground Coffee", "Coffee"), oa(3, "Twinings Earl Grey Tea", "Tea"), oa(4, "?", "Tea")]
    metrics, rows = evaluate_type(train, test, method="scripted")
    # "Ground Coffee" -> Coffee, "Grey Tea" -> Tea (head words), nothing for "?": 2 of 3
    assert [r["mapped_category"] for r in rows] == ["Coffee", "Tea", None]
    assert metrics["category_accuracy"] == pytest.approx(2 / 3) and "f1" not in metrics


def test_hypernym_metrics_on_a_tiny_taxonomy() -> None:
    nodes = [TaxonomyNode(id="a", name="Food"), TaxonomyNode(id="b", name="Drinks", parent="a"),
             TaxonomyNode(id="c", name="Snacks", parent="a"),
             TaxonomyNode(id="d", name="Coffee", parent="b"), TaxonomyNode(id="e", name="Tea", parent="b"),
             TaxonomyNode(id="f", name="Chips", parent="c")]
    assert {n.id for n in sample_leaves(nodes, 10, seed=0)} == {"d", "e", "f"}
    metrics, rows = evaluate_hypernym(nodes, sample=10, seed=0, k=2, method="scripted")
    # remaining nodes a, b, c are ranked c, b: d and e (parent b) are right at top 2, f (parent c) at top 1
    assert metrics["n"] == 3 and metrics["top1"] == pytest.approx(1 / 3) and metrics["top2"] == 1.0
    assert {r["id"]: r["pred"] for r in rows} == {"d": ["c", "b"], "e": ["c", "b"], "f": ["c", "b"]}
    # it chooses among "c" alone: only f's parent is a candidate
    assert metrics["recall_candidates"] == pytest.approx(1 / 3) and metrics["candidates"] == 1.0
    assert all(r["candidates"] == ["c"] for r in rows)


def test_applicability_metrics_over_category_attribute_pairs_by_hand() -> None:
    nodes = [TaxonomyNode(id="s", name="Shirts", attributes=["color", "size", "fit"]),
             TaxonomyNode(id="h", name="Hats", attributes=["color", "brim"])]
    metrics, rows = evaluate_applicability(nodes, sample=2, seed=0, method="scripted")
    assert {r["id"]: r["pred"] for r in rows} == {"s": ["color"], "h": ["color"]}
    # chosen at 0.5: color twice (right); size (0.4) is not chosen; missed: size, fit, brim
    assert (metrics["tp"], metrics["fp"], metrics["fn"]) == (2, 0, 3)
    assert metrics["precision"] == 1.0 and metrics["recall"] == pytest.approx(0.4)
    # ranked pairs: color .9 x2 (gold, gold) P 1 R 2/5; size .4 x2 (gold, not) P 3/4 R 3/5;
    # unscored fit and brim (gold) P 5/6 R 1
    assert metrics["aupr"] == pytest.approx(2 / 5 + 1 / 5 * 3 / 4 + 2 / 5 * 5 / 6)


def test_cleaning_metrics_with_a_scripted_cleaner() -> None:
    brands = ["Lavazza", "Folgers", "Illy", "Peets", "Kirkland"]
    records = [Record(id=f"r{i}", title=f"{brand} Dark Roast Coffee {i} oz", category="Coffee",
                      gold={"Brand": [brand], "Roast": ["Dark Roast"], "Size": [f"{i} oz"]})
               for i, brand in enumerate(brands, 1)]
    metrics, rows = evaluate_cleaning(records, records, corrupt_rate=0.4, seed=2, method="scripted")
    assert metrics["n"] == 15 and metrics["corrupted"] == 6
    titles = {r.id: r.title for r in records}
    caught = 0
    for row in rows:
        in_title = row["value"].lower() in titles[row["id"].split("|")[0]].lower()
        assert row["pred"] == (0.0 if in_title else 1.0)
        assert row["gold"] == 1 or in_title  # clean values are all in their titles: no false alarm
        caught += row["gold"] == 1 and not in_title
    assert 0 < caught < 6  # swaps get caught, title spans never
    assert (metrics["tp"], metrics["fp"], metrics["fn"]) == (caught, 0, 6 - caught)
    assert metrics["recall"] == pytest.approx(caught / 6) and metrics["recall_title_span"] == 0.0


def test_synonym_metrics_by_hand() -> None:
    pairs = [Pair(a="x:0.9", b="y", label=1), Pair(a="x:0.8", b="y", label=0),
             Pair(a="x:0.7", b="y", label=1), Pair(a="x:0.2", b="y", label=0)]
    metrics, rows = evaluate_synonyms(pairs, method="scripted")
    # ranked 1, 0, 1, 0: AP = 1 * 1/2 + 2/3 * 1/2
    assert metrics["aupr"] == pytest.approx(0.5 + 1 / 3)
    # at 0.5: tp 2 (0.9, 0.7), fp 1 (0.8), fn 0
    assert (metrics["tp"], metrics["fp"], metrics["fn"]) == (2, 1, 0)
    assert metrics["f1"] == pytest.approx(0.8)
    assert [(r["gold"], r["pred"]) for r in rows] == [(1, 0.9), (0, 0.8), (1, 0.7), (0, 0.2)]


# ------------------------------------------------------------------ command line
def _cli(*args: str):
    from typer.testing import CliRunner

    from shelfgraph.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_saves_a_run_with_a_plot_and_prints_metrics_last(tmp_path: Path) -> None:
    pairs = write_pairs([Pair(a="x:0.9", b="y", label=1), Pair(a="x:0.1", b="z", label=0)], tmp_path / "p.csv")
    result = _cli("eval", "synonyms", "--pairs", str(pairs), "--method", "scripted", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["aupr"] == 1.0 and metrics["n"] == 2
    run = tmp_path / "runs" / metrics["run"]
    assert (run / "run.json").is_file() and (run / "pr_curve.png").stat().st_size > 0


def test_cli_hypernym_reads_a_csv_taxonomy_and_rejects_unknown_methods(tmp_path: Path) -> None:
    taxonomy = tmp_path / "taxonomy.csv"
    taxonomy.write_text("id,name,parent_id\na,Food,\nb,Drinks,a\nc,Coffee,b\nd,Tea,b\n")
    result = _cli("eval", "hypernym", "--taxonomy", str(taxonomy), "--sample", "2", "--k", "2",
                  "--method", "scripted", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["n"] == 2 and metrics["top2"] == 1.0  # remaining a, b ranked b, a
    bad = _cli("eval", "hypernym", "--taxonomy", str(taxonomy), "--method", "nope", "--runs-dir", str(tmp_path / "runs"))
    assert bad.exit_code != 0 and "valid: " in bad.output


def test_cli_build_pairs_writes_train_and_test(tmp_path: Path) -> None:
    wdc = tmp_path / "wdc"
    for split in ("train_large", "test"):
        _write_jsonl(wdc / "wdc_with_all_attributes" / f"{split}.jsonl", RAW)
        _write_jsonl(wdc / "wdc_with_all_attributes_normalized" / f"{split}.jsonl", NORMALISED)
    (wdc / "attribute_descriptions.csv").write_text(
        "Category;Attribute;Normalization_params\nComputers;Capacity;[Unit Expansion]\n"
        "Computers;Interface;[Name Generalisation]\n", encoding="utf-8")
    result = _cli("eval", "build-pairs", "--wdc", str(wdc), "--out-dir", str(tmp_path / "pairs"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["test"]["positives"] == 2
    assert {p.attribute for p in read_pairs(tmp_path / "pairs" / "train.csv")} == {"Computers/Capacity"}
