"""What the build takes for a product type: no attribute value, one spelling per type."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.models import BROADER, PRODUCT_TYPE, Product, type_subject
from shelfgraph.registry import create
from shelfgraph.store import Ledger
from shelfgraph.typenames import TypeSpellings, descriptor_words, head_word, is_type_phrase, singular, type_key

BRANDS = "Acme Bolt Cora Dune Elko Fenn Gale Hart Iris Juno Kite Lark".split()
SHOES = "Slipper Loafer Boot Sandal Clog Mule Oxford Pump Flat Wedge Moccasin Sneaker".split()


def test_head_word_is_the_last_word_singular() -> None:
    assert head_word("Cold Brew Coffees") == "coffee"
    assert head_word("Berries") == "berry" and singular("glasses") == "glass" and singular("dress") == "dress"
    assert head_word("!!") is None


def test_spellings_of_one_type_share_a_key_and_read_as_the_commonest() -> None:
    assert type_key("Face-Masks") == type_key("face masks") == type_key("Face Mask") == "face mask"
    spelling = TypeSpellings(["Shoes", "Vitamins & Supplements"], ["face masks", "face-masks", "face masks", "face mask"])
    assert {spelling(p) for p in ["Face-Masks", "face mask", "FACE MASKS"]} == {"face masks"}
    assert spelling("shoe") == "shoes"  # a known type's own spelling wins
    assert spelling("granola") == "granola"


def test_numbers_possessives_and_descriptive_values_are_not_types() -> None:
    labelled = [Product(id="a", title="Ox Brown Loafer", product_type="Loafer",
                        attributes={"Color": ["Chocolate Nubuck"], "Gender": ["Women"], "Flavor": ["Peanut Butter"]})]
    descriptors = descriptor_words(["Shoes", "Skin Care"], labelled)
    assert {"nubuck", "women"} <= descriptors and "butter" not in descriptors and "loafer" not in descriptors
    assert not any(is_type_phrase(p, descriptors) for p in ["Men's", "girls'", "Nubuck", "Womens", "lotion spf 50", "!!"])
    assert all(is_type_phrase(p, descriptors) for p in ["Face-Masks", "beard butter", "granola", "nubuck loafer"])


def _jsonl(path: Path, products: list[Product]) -> Path:
    path.write_text("".join(json.dumps(p.model_dump(include={"id", "title", "product_type", "attributes"})) + "\n"
                            for p in products))
    return path


def _labelled() -> list[Product]:
    """Training titles that teach the tagger to take "Men's" and "Nubuck"-like words for types."""
    found = []
    for i, (brand, shoe) in enumerate(zip(BRANDS, SHOES)):
        found += [
            Product(id=f"l{i}a", title=f"{brand} Reusable Face Masks, Pack of {i + 2}", product_type="Face Masks"),
            Product(id=f"l{i}b", title=f"{brand} Washable Face-Masks, Pack of {i + 2}", product_type="Face-Masks"),
            Product(id=f"l{i}c", title=f"{brand} Men's Walking Shoes Brown {i + 6}", product_type="Men's",
                    attributes={"Gender": ["Men's"]}),
            Product(id=f"l{i}d", title=f"{brand} Lakeside Ox Brown {shoe} {i + 6}", product_type=shoe,
                    attributes={"Color": ["Chocolate Nubuck"]}),
        ]
    return found


CATALOGUE = [Product(id="t1", title="Zed Washable Face-Masks, Pack of 3"),
             Product(id="t2", title="Yon Cotton Face Mask, Pack of 2"),
             Product(id="t3", title="Xan Reusable Face Masks, Pack of 5"),
             Product(id="t4", title="Tor Reusable Face Masks, Pack of 4"),
             Product(id="t5", title="Wim Men's Running Shoes Brown 9"),
             Product(id="t6", title="Uma Lakeside Ox Brown Nubuck 8")]


def test_the_build_adds_no_non_type_and_places_one_spelling_per_type(tmp_path, demo_data) -> None:
    """The tagger (the baseline) proposes "Men's", "Nubuck" and three spellings of face masks;
    the build asserts no type for the first two and places face masks once, as most titles write it."""
    tagger = create("type", "baseline")
    tagger.initialize(_labelled())
    proposed = {p.id: e.value for p, e in zip(CATALOGUE, tagger.predict(CATALOGUE)) if e is not None}
    assert proposed == {"t1": "Face-Masks", "t2": "Face Mask", "t3": "Face Masks", "t4": "Face Masks",
                        "t5": "Men's", "t6": "Nubuck"}
    store = tmp_path / "g.db"
    result = CliRunner().invoke(app, [
        "build", str(_jsonl(tmp_path / "catalog.jsonl", CATALOGUE)), "--taxonomy", str(demo_data / "taxonomy"),
        "--labelled", str(_jsonl(tmp_path / "labelled.jsonl", _labelled())), "--store", str(store),
        "--method", "baseline", "--quiet"])
    assert result.exit_code == 0, result.output
    with Ledger(store) as ledger:
        types = {f.subject: f.object for f in ledger.facts(predicate=PRODUCT_TYPE, step="taxonomy")}
        placed = {f.subject for f in ledger.facts(predicate=BROADER)}
    assert types == {"t1": "face-masks", "t2": "face mask", "t3": "face masks", "t4": "face masks"}
    assert placed == {type_subject("face masks")}
