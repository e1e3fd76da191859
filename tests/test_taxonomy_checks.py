"""Taxonomy files with broken parent links or nameless rows: each problem is a rejected row
with its file and line, the good rows are stored, and no walk of the stored taxonomy repeats."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.ingest import RejectedRow, read_taxonomy
from shelfgraph.models import TaxonomyNode
from shelfgraph.store import Ledger

runner = CliRunner()


def _split(items: list) -> tuple[dict[str, str | None], list[str]]:
    """id -> parent of the nodes, and the rejected rows as "file-name:line: reason"."""
    parents = {i.id: i.parent for i in items if isinstance(i, TaxonomyNode)}
    rejected = [f"{Path(r.file).name}:{r.line}: {r.reason}" for r in items if isinstance(r, RejectedRow)]
    return parents, rejected


def test_csv_cycles_self_loops_dangling_parents_and_nameless_rows(tmp_path):
    taxonomy = tmp_path / "tax.csv"
    taxonomy.write_text(
        "id,name,parent_id\n"
        "food,Food,\n"          # 2
        "drink,Drinks,food\n"   # 3
        "self,Selfish,self\n"   # 4: its own parent
        "a,Alpha,b\n"           # 5: a > b > a
        "b,Beta,a\n"            # 6
        "x,Ex,z\n"              # 7: x > z > y > x
        "y,Why,x\n"             # 8
        "z,Zed,y\n"             # 9
        "lost,Lost,nowhere\n"   # 10: dangling
        "noname,,food\n"        # 11: no name
        ",Noid,food\n"          # 12: no id
        "orphan,Orphan,noname\n"  # 13: its parent's row was rejected
    )
    parents, rejected = _split(read_taxonomy(taxonomy))
    assert parents == {"food": None, "drink": "food", "self": None, "a": None, "b": "a", "x": None,
                       "y": "x", "z": "y", "lost": None, "orphan": None}
    assert rejected == [
        "tax.csv:4: 'Selfish' is its own parent; stored as a root",
        "tax.csv:5: parent cycle 'Alpha' > 'Beta' > 'Alpha'; stored as a root",
        "tax.csv:7: parent cycle 'Ex' > 'Zed' > 'Why' > 'Ex'; stored as a root",
        "tax.csv:10: parent 'nowhere' is not in this taxonomy (or its row was rejected); stored as a root",
        "tax.csv:11: a taxonomy row needs an id and a name",
        "tax.csv:12: a taxonomy row needs an id and a name",
        "tax.csv:13: parent 'noname' is not in this taxonomy (or its row was rejected); stored as a root",
    ]


def test_ingest_stores_the_good_rows_reports_the_rest_and_walks_never_repeat(tmp_path):
    taxonomy = tmp_path / "tax.csv"
    taxonomy.write_text("id,name,parent_id\nfood,Food,\ncoffee,Coffee,food\na,Alpha,b\nb,Beta,a\n"
                        ",Nameless,food\n")
    store = tmp_path / "g.db"
    result = runner.invoke(app, ["ingest", str(taxonomy), "--store", str(store)])
    assert result.exit_code == 3, result.output
    assert f"rejected {taxonomy}:4: parent cycle 'Alpha' > 'Beta' > 'Alpha'; stored as a root" in result.output
    assert f"rejected {taxonomy}:6: a taxonomy row needs an id and a name" in result.output
    lines = (tmp_path / "g.db.rejected.jsonl").read_text().splitlines()
    assert [(json.loads(x)["file"], json.loads(x)["line"]) for x in lines] == [(str(taxonomy), 4), (str(taxonomy), 6)]
    with Ledger(store) as ledger:
        assert {n.id for n in ledger.taxonomy_nodes()} == {"food", "coffee", "a", "b"}
        assert [n.id for n in ledger.taxonomy_path("b")] == ["a", "b"]
        assert [n.id for n in ledger.taxonomy_path("coffee")] == ["food", "coffee"]


def test_a_cycle_closed_across_files_never_makes_a_repeated_path(tmp_path):
    """Each file alone is a forest, but the second re-parents the first one's root: the stored
    taxonomy has a cycle that only the store's walks can stop."""
    with Ledger(tmp_path / "g.db") as ledger:
        ledger.upsert_taxonomy([TaxonomyNode(id="a", name="A"), TaxonomyNode(id="b", name="B", parent="a"),
                                TaxonomyNode(id="c", name="C", parent="b")], source="one.csv")
        ledger.upsert_taxonomy([TaxonomyNode(id="a", name="A", parent="c")], source="two.csv")
        assert [n.id for n in ledger.taxonomy_path("c")] == ["a", "b", "c"]
        assert [n.id for n in ledger.taxonomy_subtree("a")] == ["a", "b", "c"]
        ledger.upsert_taxonomy([TaxonomyNode(id="s", name="S", parent="s")], source="three.csv")
        assert [n.id for n in ledger.taxonomy_path("s")] == ["s"]


def test_google_taxonomy_dangling_paths_and_lines_without_a_name(tmp_path):
    taxonomy = tmp_path / "taxonomy-with-ids.en-US.txt"
    taxonomy.write_bytes(
        b"# Google_Product_Taxonomy_Version: 2021-09-21\n"
        b"2 - Animals > Pet Supplies\n"          # 2: parent comes later in the file
        b"1 - Animals\n"                         # 3
        b"7 - Food > Drinks > Coffee\n"          # 4: no "Food > Drinks"
        b"8 - Animals > \n"                      # 5: empty last level
        b"just some text\n"                      # 6: not "ID - path"
        b"9 - Animals > Caf\xe9\n"               # 7: not UTF-8
        b"3 - Animals > Pet Supplies > Beds\n"   # 8
    )
    parents, rejected = _split(read_taxonomy(taxonomy))
    assert parents == {"2": "1", "1": None, "7": None, "3": "2"}
    name = taxonomy.name
    assert rejected == [
        f"{name}:4: parent 'Food > Drinks' is not in this taxonomy; stored as a root",
        f"{name}:5: expected 'ID - A > B > C', a name at every level",
        f"{name}:6: expected 'ID - A > B > C', a name at every level",
        f"{name}:7: not UTF-8 text (unknown encoding)",
    ]


def test_shopify_categories_with_loops_and_nameless_entries(tmp_path):
    folder = tmp_path / "shopify"
    (folder / "categories").mkdir(parents=True)
    (folder / "categories" / "fb.yml").write_text(
        "- id: fb\n"             # 1
        "  name: Food\n"
        "  children:\n"
        "  - fb-1\n"
        "  - fb-2\n"
        "- id: fb-1\n"           # 6
        "  name: Coffee\n"
        "  children:\n"
        "  - fb-1\n"             # its own child
        "- id: fb-2\n"           # 10
        "  children:\n"
        "  - fb-3\n"
        "- id: fb-3\n"           # 13: its parent was rejected
        "  name: Tea\n"
        "- just a string\n"      # 15
    )
    parents, rejected = _split(read_taxonomy(folder))
    assert parents == {"fb": None, "fb-1": None, "fb-3": None}
    assert rejected == [
        "fb.yml:6: 'Coffee' is its own parent; stored as a root",
        "fb.yml:10: a taxonomy row needs an id and a name",
        "fb.yml:13: parent 'fb-2' is not in this taxonomy (or its row was rejected); stored as a root",
        "fb.yml:15: a category must be a mapping",
    ]
