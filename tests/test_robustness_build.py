"""`shelfgraph build` on catalogues shaped unlike the demo data, none with a labelled file: every
method finishes (exit 0, or 3 for rejected rows) with a summary, and a step that cannot learn
from what it was given is skipped with a note instead of failing the build after facts were
stored (issue 14, point 1). Then point 3: options and config values mean what they say, and bad
ones fail, naming the key, before anything is stored.

Every catalogue is made here, deterministically: WDC-PAVE-shaped records with descriptions,
generic JSONL and CSV records, a taxonomy CSV and a 5k-node Google taxonomy.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfgraph.buildrun import run_build
from shelfgraph.cli import app
from shelfgraph.context import LLMConfig, StepContext
from shelfgraph.engines import StageSpec, run_stage
from shelfgraph.errors import UsageError
from shelfgraph.models import BROADER, Product
from shelfgraph.pipeline import BuildConfig
from shelfgraph.registry import create
from shelfgraph.stages import STAGES
from shelfgraph.stages.cleaning import CleaningUnit
from shelfgraph.steps import NotEnoughData
from shelfgraph.store import Ledger

runner = CliRunner()

TYPES = {  # category -> the product-type phrases its titles use
    "Home And Garden": ["Garden Hose", "Flower Pot", "Door Mat"],
    "Jewelry": ["Wedding Band", "Pendant Necklace", "Stud Earrings"],
    "Office Products": ["Stapler", "Desk Lamp", "Paper Shredder"],
}
BRANDS = ["Acme", "Zenith", "Orbit", "Nova"]
COLOURS = ["black", "silver", "red", "blue", "green"]


def _gold(value: str, parts: list[int]) -> dict:
    return {value: {"pid": parts, "score": 1}}


def wdc_records(n: int, categories: list[str] = sorted(TYPES)) -> list[dict]:
    """WDC-PAVE offers: title and description, gold values with the part they occur in, n/a."""
    records = []
    for i in range(n):
        category = categories[i % len(categories)]
        phrase = TYPES[category][(i // len(categories)) % len(TYPES[category])]
        brand, colour, size = BRANDS[i % len(BRANDS)], COLOURS[i % len(COLOURS)], f"{10 + i} cm"
        records.append({
            "id": 5000 + i, "cluster_id": float(i), "category": category, "url": "shop.example",
            "input_title": f"{brand} {phrase} {colour} {size}",
            "input_description": f"The {brand} {phrase.lower()} comes in {colour}. It measures {size} across.",
            "target_scores": {"Brand": _gold(brand, [0, 1]), "Product Type": _gold(phrase, [0]),
                              "Color": _gold(colour, [0, 1]), "Size": _gold(size, [0, 1]), "Weight": {"n/a": 1}},
        })
    return records


def google_taxonomy(folder: Path, roots: int = 200, children: int = 6, leaves: int = 3) -> Path:
    """`id - A > B > C` lines: 200 roots x 6 children x 3 leaves = 5,000 nodes. Names repeat
    across branches as in Google's own ("Accessories" under many nodes), so few are distinct."""
    areas = "Home Garden Office Tools Kitchen Sports Toys Auto Pets Baby".split()
    kinds = "Accessories Parts Supplies Equipment Furniture Decor Storage Cleaning Lighting Cables".split()
    things = "Lamps Chairs Hoses Pots Mats Staplers Shredders Rings Necklaces Earrings Clips Boxes".split()
    lines, next_id = ["# Google_Product_Taxonomy_Version: generated"], 1
    for r in range(roots):
        root = f"{areas[r % len(areas)]} {kinds[r // len(areas) % len(kinds)]} {r // 100 or ''}".strip()
        lines.append(f"{next_id} - {root}")
        next_id += 1
        for c in range(children):
            middle = f"{root} > {kinds[(r + c) % len(kinds)]}"
            lines.append(f"{next_id} - {middle}")
            next_id += 1
            for leaf in range(leaves):
                lines.append(f"{next_id} - {middle} > {things[(r * 7 + c * 3 + leaf) % len(things)]}")
                next_id += 1
    path = folder / "taxonomy-with-ids.en-US.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def small_taxonomy(folder: Path) -> Path:
    path = folder / "taxonomy.csv"
    path.write_text("id,name,parent_id\n1,Tools,\n2,Hand Tools,1\n3,Power Tools,1\n4,Wrenches,2\n5,Drills,3\n")
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def absent_types_catalogue(path: Path) -> Path:
    """Generic records whose categories the taxonomy does not have."""
    rows = [
        ("Acme Sprocket Wrench 12mm steel", "Sprocket Wrenches", {"Brand": "Acme", "Size": "12mm",
                                                                  "Material": "steel"}),
        ("Acme Sprocket Wrench 14mm chrome", "Sprocket Wrenches", {"Brand": "Acme", "Size": "14mm",
                                                                   "Material": "chrome"}),
        ("Zeta Gizmo Polisher 500W", "Gizmo Polishers", {"Brand": "Zeta", "Power": "500W"}),
        ("Zeta Gizmo Polisher 750W cordless", "Gizmo Polishers", {"Brand": "Zeta", "Power": "750W"}),
        ("Orbo Flux Capacitor 1.21GW", "Flux Capacitors", {"Brand": "Orbo", "Power": "1.21GW"}),
        ("Orbo Flux Capacitor 2GW deluxe", "Flux Capacitors", {"Brand": "Orbo", "Power": "2GW"}),
    ]
    records = [{"id": f"a{i}", "title": title, "category": category, "attributes": attributes}
               for i, (title, category, attributes) in enumerate(rows)]
    return _jsonl(path, records)


def column_catalogue(path: Path) -> Path:
    """A CSV with one column per attribute, some cells empty."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "product_type", "Brand", "Size", "Material", "Color"])
        writer.writerows([
            ["c1", "Acme Hammer 16oz steel red", "Hammers", "Acme", "16oz", "steel", "red"],
            ["c2", "Acme Hammer 20oz fiberglass", "Hammers", "Acme", "20oz", "fiberglass", ""],
            ["c3", "Bolt Screwdriver set 6 piece blue", "Screwdrivers", "Bolt", "6 piece", "", "blue"],
            ["c4", "Bolt Screwdriver flat 4in steel", "Screwdrivers", "Bolt", "4in", "steel", ""],
            ["c5", "Kraft Pliers 8in needle nose black", "Pliers", "Kraft", "8in", "", "black"],
        ])
    return path


def bare_catalogue(path: Path) -> Path:
    """Titles and categories, not one attribute value: nothing to learn from."""
    titles = [("Red cotton t-shirt", "Shirts"), ("Blue denim jeans", "Trousers"), ("Brown leather belt", "Belts")]
    return _jsonl(path, [{"id": f"b{i}", "title": t, "category": c} for i, (t, c) in enumerate(titles)])


# shape -> (catalogue maker, taxonomy maker or None, steps whose note must say "skipped")
SHAPES = {
    "wdc-pave with descriptions, 5k-node taxonomy": (
        lambda p: _jsonl(p / "wdc.jsonl", wdc_records(24)), google_taxonomy, {"synonyms"}),
    "one category": (
        lambda p: _jsonl(p / "jewelry.jsonl", wdc_records(6, ["Jewelry"])), small_taxonomy, {"synonyms"}),
    "one product": (
        lambda p: _jsonl(p / "one.jsonl", wdc_records(1)), small_taxonomy, {"cleaning"}),
    "categories absent from the taxonomy": (
        lambda p: absent_types_catalogue(p / "absent.jsonl"), small_taxonomy, {"type", "synonyms"}),
    "csv with one column per attribute": (
        lambda p: column_catalogue(p / "columns.csv"), small_taxonomy, {"synonyms"}),
    "no attribute values, no taxonomy": (
        lambda p: bare_catalogue(p / "bare.jsonl"), None, {"type", "relations"}),
}


def build(tmp_path: Path, catalogue: Path, *options: str) -> tuple[dict, Path]:
    """Run `shelfgraph build --quiet`; the summary it printed, and the store."""
    store = tmp_path / "graph.db"
    result = runner.invoke(app, ["build", str(catalogue), "--store", str(store), "--quiet", *options])
    assert result.exit_code in (0, 3), (result.output, result.exception)
    return json.loads(result.stdout.strip().splitlines()[-1]), store


def skipped(summary: dict) -> set[str]:
    return {note.split(" ")[0] for note in summary["notes"] if " skipped: " in note}


@pytest.mark.parametrize("shape", SHAPES)
def test_baseline_builds_on_any_catalogue_shape(tmp_path, shape):
    make_catalogue, make_taxonomy, must_skip = SHAPES[shape]
    taxonomy = ["--taxonomy", str(make_taxonomy(tmp_path))] if make_taxonomy else []
    summary, store = build(tmp_path, make_catalogue(tmp_path), "--method", "baseline", *taxonomy)
    assert [s["step"] for s in summary["steps"]] == list(STAGES)
    assert summary["products"] >= 1 and summary["facts_after"] >= summary["facts_before"]
    assert skipped(summary) == must_skip, summary["notes"]
    for step in summary["steps"]:  # a skipped stage did nothing; every other one finished its units
        assert step["done"] == (0 if step["step"] in must_skip else step["units"]), step
    with Ledger(store) as ledger:
        run = ledger.runs()[0]
        assert run.status == "finished" and run.summary["notes"] == summary["notes"]
        if make_taxonomy is google_taxonomy:
            assert len(ledger.taxonomy_nodes()) == 5000
            placed = ledger.facts(predicate=BROADER)
            assert placed and {f.object for f in placed} <= {n.id for n in ledger.taxonomy_nodes()}


def test_a_skipped_step_is_noted_in_the_printed_summary(tmp_path):
    """The issue's crash (one-class synonym pairs), read the way a person reads a build."""
    store = tmp_path / "graph.db"
    result = runner.invoke(app, ["build", str(absent_types_catalogue(tmp_path / "c.jsonl")), "--store", str(store),
                                 "--method", "baseline"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "note: synonyms (baseline) skipped: synonym training pairs need both labels" in result.output


def test_a_hypernym_step_without_taxonomy_is_skipped(tmp_path):
    """New types are found, but there is no taxonomy to place them in."""
    summary, _ = build(tmp_path, _jsonl(tmp_path / "wdc.jsonl", wdc_records(12)), "--method", "baseline")
    hypernym = next(s for s in summary["steps"] if s["step"] == "hypernym")
    assert hypernym["units"] > 0 and hypernym["done"] == 0
    assert "hypernym" in skipped(summary) and "non-empty taxonomy" in " ".join(summary["notes"])


@pytest.mark.parametrize("method", ["agent", "hybrid"])
def test_llm_methods_build_on_a_catalogue_without_training_data(tmp_path, method, packaged_gguf):
    """No attribute value anywhere: the agent answers untrained where it can (noted), and a
    hybrid, whose baseline half cannot learn, skips the step (noted)."""
    summary, store = build(tmp_path, bare_catalogue(tmp_path / "bare.jsonl"), "--method", method, "--limit", "1",
                           "--model", str(packaged_gguf))
    type_step = summary["steps"][0]
    assert summary["products"] == 1 and type_step["units"] == 1
    if method == "agent":
        assert type_step["done"] == 1
        assert "type (agent): no training data, so the step ran untrained" in summary["notes"]
    else:
        assert type_step["done"] == 0 and "type" in skipped(summary)
    assert "relations" in skipped(summary)  # no type has a known attribute


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_both_engines_say_why_a_step_cannot_learn(engine):
    """Under Ray, an actor that fails to start reaches the driver only as "actor died": the
    reason must still arrive, as the same exception the local engine raises."""
    product = Product(id="p1", title="Acme Stapler black", attributes={"Brand": ["Acme"]})
    spec = StageSpec(kind="cleaning", method="baseline", config={}, context=StepContext(), training=([product],))
    unit = CleaningUnit(product=product, triples=[("f1", "Brand", "Acme")])
    with pytest.raises(NotEnoughData, match="needs at least 4 training products, got 1"):
        list(run_stage(spec, create("cleaning", "baseline"), [unit], "run", {"cleaning_threshold": 0.5},
                       engine=engine))


# ---------------------------------------------------------------- point 3: arguments mean what they say
def test_limit_zero_builds_nothing(tmp_path):
    catalogue = column_catalogue(tmp_path / "columns.csv")
    _, store = build(tmp_path, catalogue)
    with Ledger(store) as ledger:
        graph = {(f.id, f.status) for f in ledger.facts(status=None)}
    summary, _ = build(tmp_path, catalogue, "--limit", "0")
    assert summary["products"] == 0 and summary["steps"] == []
    assert summary["notes"] == ["the batch has no products: no step ran"]
    with Ledger(store) as ledger:  # not one fact added, retracted or flagged
        assert {(f.id, f.status) for f in ledger.facts(status=None)} == graph


@pytest.mark.parametrize("option", [("--limit", "-1"), ("--workers", "0"), ("--workers", "-2")])
def test_negative_limits_and_workers_are_usage_errors(tmp_path, option):
    store = tmp_path / "graph.db"
    result = runner.invoke(app, ["build", str(bare_catalogue(tmp_path / "bare.jsonl")), "--store", str(store),
                                 *option])
    assert result.exit_code == 2 and option[0] in result.output
    assert not store.exists()


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shelfgraph.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, named", [
    ("batch_sise = 8\n", "batch_sise: unknown key"),
    ("[steps.type]\nmethod = 'baseline'\nconfg = {}\n", "steps.type.confg: unknown key"),
    ("[steps.typo]\nmethod = 'baseline'\n", "steps.typo"),
    ("batch_size = -5\n", "batch_size = -5: Input should be greater than or equal to 1"),
    ("cleaning_threshold = 1.5\n", "cleaning_threshold = 1.5: Input should be less than or equal to 1"),
    ("limit = -3\n", "limit = -3"),
    ("workers = 0\n", "workers = 0"),
    ("hypernym_k = 0\n", "hypernym_k = 0"),
    ("synonym_candidates = -1\n", "synonym_candidates = -1"),
])
def test_unknown_keys_and_out_of_range_values_are_errors_naming_the_key(tmp_path, text, named):
    path = _toml(tmp_path, text)
    with pytest.raises(UsageError) as raised:
        BuildConfig.from_toml(path)
    assert f"{path}: {named}" in str(raised.value) and "\n" not in str(raised.value)


def test_a_bad_option_value_is_named_as_the_option(tmp_path):
    with pytest.raises(UsageError, match=r"^--engine = 'spark': Input should be 'local' or 'ray'$"):
        BuildConfig.from_toml(None, engine="spark")


@pytest.mark.parametrize("text, line", [("method = 'baseline'\nbatch_size = \n", "line 2, column 14"),
                                        ("[steps.type\n", "line 1, column 12"),
                                        ("method = 'baseline'\nlimit = [1,", "line 2 (end of file)")])
def test_malformed_toml_is_one_line_naming_file_and_line(tmp_path, text, line):
    path = _toml(tmp_path, text)
    with pytest.raises(UsageError) as raised:
        BuildConfig.from_toml(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {line}: ") and "\n" not in message


@pytest.mark.parametrize("config, named", [
    ({"method": "magic"}, "no method 'magic' for step 'type'; valid: agent, baseline, hybrid"),
    ({"steps": {"synonyms": {"method": "magic"}}}, "no method 'magic' for step 'synonyms'"),
    ({"steps": {"cleaning": {"config": {"folds": 4, "flods": 3}}}}, "unexpected keyword argument 'flods'"),
    ({"steps": {"type": {"method": "agent", "config": {"prompt": "type@v99"}}}}, "type@v99"),
])
def test_bad_methods_and_step_settings_fail_before_anything_is_stored(tmp_path, config, named):
    store = tmp_path / "graph.db"
    with pytest.raises(UsageError) as raised:
        run_build(store=store, catalog=[bare_catalogue(tmp_path / "bare.jsonl")], taxonomy=None, reviews=[],
                  labelled=[], config=BuildConfig.model_validate(config), llm=LLMConfig(), quiet=True)
    assert named in str(raised.value)
    assert not store.exists()
