"""Retrieval against real Chroma stores in temporary folders and the packaged MiniLM."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shelfgraph.retrieval.chunks import product_chunks, sentence_spans
from shelfgraph.retrieval.embeddings import cosine_top_k, embed, mmr
from shelfgraph.retrieval.index import CatalogIndex, examples_set, taxonomy_set
from shelfgraph.models import Product, TaxonomyNode, TextSnippet

ROOT = Path(__file__).resolve().parents[1]


def coffee(pid: str, title: str, **attributes: str) -> Product:
    return Product(
        id=pid, title=title, product_type="Coffee", attributes={k: [v] for k, v in attributes.items()}
    )


def shoe(pid: str, title: str, **attributes: str) -> Product:
    return Product(id=pid, title=title, product_type="Shoes", attributes={k: [v] for k, v in attributes.items()})


EXAMPLES = [
    coffee("c1", "Starbucks French Roast Dark Roast Ground Coffee, 12 oz", Brand="Starbucks", Roast="Dark Roast"),
    coffee("c2", "Starbucks French Roast Dark Roast Ground Coffee, 12 Ounce Bag", Brand="Starbucks"),
    coffee("c3", "Lavazza Super Crema Whole Bean Coffee Blend, Medium Espresso Roast, 2.2 lb", Brand="Lavazza"),
    coffee("c4", "Green Mountain Breakfast Blend K-Cup Pods, Light Roast, 24 count", Brand="Green Mountain"),
    coffee("c5", "Death Wish Organic USDA Certified Whole Bean Coffee, 16 oz", Brand="Death Wish"),
    shoe("s1", "Nike Men's Air Max 270 Running Shoe, Black/White, 10 M US", Brand="Nike", Gender="Men's"),
    shoe("s2", "Crocs Women's Classic Clog, Pink, 8 M US", Brand="Crocs", Gender="Women's"),
    shoe("s3", "Adidas Kids' Grand Court Tennis Sneaker, White, 3 Little Kid", Brand="Adidas"),
    Product(id="t1", title="Twinings English Breakfast Black Tea, 100 Tea Bags", product_type="Tea",
            attributes={"Brand": ["Twinings"]}),
]

REVIEWED = Product(
    id="r1",
    title="Peet's Coffee Major Dickason's Blend, Dark Roast Ground Coffee, 18 oz",
    product_type="Coffee",
    description=(
        "A rich, complex and full-bodied blend. Roasted in small batches in Alameda, California.\n"
        "Net weight: 18 ounces (510 g) per bag."
    ),
    reviews=[
        TextSnippet(id="a", text="Great value. The flavor is smoky with notes of dark chocolate and caramel!"),
        TextSnippet(id="b", text="Shipping was fast and the box arrived undamaged."),
    ],
    questions=[TextSnippet(id="q1", text="Is this decaf? No, it is fully caffeinated.")],
)

TAXONOMY = [
    TaxonomyNode(id="fb", name="Food, Beverages & Tobacco"),
    TaxonomyNode(id="bev", name="Beverages", parent="fb"),
    TaxonomyNode(id="cof", name="Coffee", parent="bev"),
    TaxonomyNode(id="tea", name="Tea & Infusions", parent="bev"),
    TaxonomyNode(id="frozen", name="Frozen Desserts", parent="fb"),
    TaxonomyNode(id="ice", name="Ice Cream & Frozen Yogurt", parent="frozen"),
    TaxonomyNode(id="app", name="Apparel & Accessories"),
    TaxonomyNode(id="shoes", name="Shoes", parent="app"),
    TaxonomyNode(id="sneak", name="Sneakers", parent="shoes"),
]
EXAMPLES_SET, TAXONOMY_SET = examples_set(EXAMPLES), taxonomy_set(TAXONOMY)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("chroma")
    index = CatalogIndex.open(path)
    index.index_products(EXAMPLES + [REVIEWED])
    index.index_chunks(EXAMPLES + [REVIEWED])
    index.index_examples(EXAMPLES)
    index.index_taxonomy(TAXONOMY)
    return path


@pytest.fixture(scope="module")
def index(index_dir) -> CatalogIndex:
    return CatalogIndex.open(index_dir)


def test_embeddings_are_unit_vectors_and_similar_for_similar_texts():
    vectors = embed(["dark roast ground coffee", "ground coffee, dark roast", "women's running shoe"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_cosine_top_k_ranks_rows_best_first():
    matrix = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    indices, scores = cosine_top_k(np.array([[0.0, 1.0], [1.0, 0.1]]), matrix, k=2)
    assert indices.tolist() == [[1, 2], [0, 2]]
    assert scores[0, 0] == pytest.approx(1.0)
    assert scores[0, 1] == pytest.approx(1 / np.sqrt(2))
    assert cosine_top_k(np.array([[1.0, 0.0]]), matrix, k=10)[0].shape == (1, 3)


def test_mmr_skips_a_duplicate_of_what_it_already_chose():
    query = np.array([1.0, 0.0, 0.0])
    candidates = np.array([[0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.7, 0.0, 0.7]])
    assert mmr(query, candidates, k=2, lambda_=0.5) == [0, 2]
    assert mmr(query, candidates, k=2, lambda_=1.0) == [0, 1]


def test_sentence_spans_point_at_the_sentences():
    text = "  First one. Second one?\n\nThird (with a bracket.) Fourth!  "
    pieces = [text[start:end] for start, end in sentence_spans(text)]
    assert pieces == ["First one.", "Second one?", "Third (with a bracket.)", "Fourth!"]
    long_text = "word " * 300
    spans = sentence_spans(long_text, max_chars=100)
    assert all(end - start <= 100 for start, end in spans)
    assert " ".join(long_text[s:e] for s, e in spans) == long_text.strip()


def test_chunks_cover_description_reviews_and_questions_not_title():
    chunks = product_chunks(REVIEWED)
    assert {c.field for c in chunks} == {"description", "review:a", "review:b", "qa:q1"}
    for chunk in chunks:
        assert REVIEWED.field_text(chunk.field)[chunk.start : chunk.end] == chunk.text


def test_second_run_embeds_nothing_and_a_change_replaces_the_old_record(tmp_path):
    index = CatalogIndex.open(tmp_path / "idx")
    products = EXAMPLES + [REVIEWED]
    first = [
        index.index_products(products),
        index.index_chunks(products),
        index.index_examples(products),
        index.index_taxonomy(TAXONOMY),
    ]
    assert first == [10, len(product_chunks(REVIEWED)), 9, 9]
    second = [
        index.index_products(products),
        index.index_chunks(products),
        index.index_examples(products),
        index.index_taxonomy(TAXONOMY),
    ]
    assert second == [0, 0, 0, 0]

    changed = REVIEWED.model_copy(update={"description": "Now a lighter, brighter roast."})
    assert index.index_products([changed]) == 1
    assert index.index_chunks([changed]) == 1
    counts = index.counts()
    assert counts["products"] == 10
    assert counts["chunks"] == len(product_chunks(changed))
    texts = index.collection("products").get(where={"product_id": "r1"})["documents"]
    assert texts == [f"{changed.title}\n{changed.description}"]


def test_examples_reuse_the_vectors_of_indexed_products(tmp_path, monkeypatch):
    import shelfgraph.retrieval.index

    embedded: list[str] = []

    def counting_embed(texts, batch_size=64):
        embedded.extend(texts)
        return embed(texts, batch_size)

    monkeypatch.setattr(shelfgraph.retrieval.index, "embed", counting_embed)
    index = CatalogIndex.open(tmp_path / "idx")
    index.index_products(EXAMPLES[:4])
    assert len(embedded) == 4
    assert index.index_examples(EXAMPLES) == len(EXAMPLES)
    assert embedded[4:] == [p.title for p in EXAMPLES[4:]]  # only those not already in `products`
    stored = index.collection("examples").get(where={"product_id": "c1"}, include=["embeddings"])
    product = index.collection("products").get(where={"product_id": "c1"}, include=["embeddings"])
    assert np.array_equal(stored["embeddings"][0], product["embeddings"][0])


def test_similar_examples_prefers_the_same_type_and_varied_neighbours(index):
    query = Product(id="q", title="Starbucks Pike Place Medium Roast Ground Coffee, 28 oz", product_type="coffee")
    examples = index.similar_examples(query, k=3, scope=EXAMPLES_SET)
    assert [e.product_type for e in examples] == ["Coffee"] * 3
    assert examples[0].attributes["Brand"] == ["Starbucks"]
    # c1 and c2 are the same product under two ids: diversity keeps only one of them
    assert len({"c1", "c2"} & {e.id for e in examples}) == 1
    # with too few of its own type, the rest are filled from other types, own type first
    tea = Product(id="q2", title="Tetley Classic Black Tea, 80 bags", product_type="Tea")
    mixed = index.similar_examples(tea, k=3, scope=EXAMPLES_SET)
    assert [e.id for e in mixed][0] == "t1"
    assert len(mixed) == 3 and all(e.product_type != "Tea" for e in mixed[1:])


def test_a_set_is_read_a_page_at_a_time(index_dir, monkeypatch):
    """Large sets are read in pages (one `get` of 100k records fails in SQLite); small pages
    give the same set."""
    import shelfgraph.retrieval.index

    query = Product(id="q", title="Nike running shoes for men", product_type="Shoes")
    expected = [p.id for p in CatalogIndex.open(index_dir).similar_examples(query, k=4, scope=EXAMPLES_SET)]
    monkeypatch.setattr(shelfgraph.retrieval.index, "GET_PAGE", 2)
    paged = CatalogIndex.open(index_dir)
    assert [p.id for p in paged.similar_examples(query, k=4, scope=EXAMPLES_SET)] == expected
    assert [n for n, _ in paged.taxonomy_candidates("sneakers", k=9, scope=TAXONOMY_SET)][0] == "sneak"
    assert len(paged.taxonomy_candidates("sneakers", k=20, scope=TAXONOMY_SET)) == len(TAXONOMY)


def test_similar_examples_never_returns_the_product_itself(index):
    examples = index.similar_examples(EXAMPLES[0], k=4, scope=EXAMPLES_SET)
    assert "c1" not in {e.id for e in examples}
    assert len(examples) == 4


def test_evidence_offsets_point_at_the_text(index):
    chunks = index.evidence("r1", "flavor", k=2)
    assert len(chunks) == 2
    assert "dark chocolate" in chunks[0].text
    for chunk in chunks:
        assert chunk.product_id == "r1"
        assert REVIEWED.field_text(chunk.field)[chunk.start : chunk.end] == chunk.text
    weight = index.evidence("r1", "net weight", k=1)[0]
    assert weight.field == "description" and "18 ounces" in weight.text
    assert index.evidence("c1", "flavor") == []  # a title-only product has no evidence chunks


def test_taxonomy_candidates_and_similar_products(index):
    candidates = index.taxonomy_candidates("ice cream", k=3, scope=TAXONOMY_SET)
    assert candidates[0][0] == "ice"
    assert len(candidates) == 3 and candidates[0][1] >= candidates[1][1] >= candidates[2][1]
    neighbours = index.similar_products(EXAMPLES[0], k=3)
    assert neighbours[0][0] == "c2"
    assert "c1" not in [pid for pid, _ in neighbours]
    assert index.similar_products("sneakers for running", k=1)[0][0] == "s1"


def test_chroma_uses_our_embedding_function_for_text_queries(index):
    result = index.collection("taxonomy").query(query_texts=["running sneakers"], n_results=1)
    assert result["ids"][0] and result["metadatas"][0][0]["node_id"] == "sneak"


def test_reopening_the_store_from_disk_in_a_new_process(index_dir):
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from shelfgraph.retrieval.index import CatalogIndex, examples_set\n"
        "from shelfgraph.models import Product\n"
        "index = CatalogIndex.open(Path(sys.argv[1]))\n"
        "products = [Product.model_validate(p) for p in json.loads(sys.stdin.read())]\n"
        "q = Product(id='q', title='Nike running shoes for men', product_type='Shoes')\n"
        "print(json.dumps({'counts': index.counts(),\n"
        "  'examples': [p.id for p in index.similar_examples(q, k=2, scope=examples_set(products))],\n"
        "  'again': index.index_products(products)}))\n"
    )
    products = json.dumps([p.model_dump() for p in EXAMPLES + [REVIEWED]])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, str(index_dir)],
        input=products, capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["counts"]["products"] == 10 and result["counts"]["examples"] == 9
    assert result["examples"][0] == "s1"
    assert result["again"] == 0  # what is on disk is known to the new process: nothing to embed


def test_index_command_embeds_the_store_once(tmp_path, demo_data):
    from typer.testing import CliRunner

    from shelfgraph.cli import app
    from shelfgraph.store import Ledger

    runner = CliRunner()
    store = tmp_path / "graph.db"
    ingested = runner.invoke(
        app, ["ingest", str(demo_data / "catalog.jsonl"), "--taxonomy", str(demo_data / "taxonomy"), "--store", str(store)]
    )
    assert ingested.exit_code == 0, ingested.output
    first = runner.invoke(app, ["index", "--store", str(store)])
    assert first.exit_code == 0, first.output
    counts = {name: int(n) for name, n in re.findall(r"^(\w+): (\d+) new or changed$", first.output, re.M)}
    with Ledger(store) as ledger:
        labelled = sum(1 for p in ledger.products() if p.attributes)
        nodes = len(ledger.taxonomy_nodes())
    assert counts == {"products": 200, "chunks": 0, "examples": labelled, "taxonomy": nodes}
    assert (tmp_path / "graph.db.chroma").is_dir()
    second = runner.invoke(app, ["index", "--store", str(store)])
    assert second.exit_code == 0, second.output
    again = {name: int(n) for name, n in re.findall(r"^(\w+): (\d+) new or changed$", second.output, re.M)}
    assert again == {"products": 0, "chunks": 0, "examples": 0, "taxonomy": 0}
    index = CatalogIndex.open(tmp_path / "graph.db.chroma")
    node_id, _ = index.taxonomy_candidates("granola", k=1, scope="store")[0]
    assert "granola" in index.collection("taxonomy").get(where={"node_id": node_id})["documents"][0].lower()


def test_index_command_names_a_missing_store(tmp_path):
    from typer.testing import CliRunner

    from shelfgraph.cli import app

    result = CliRunner().invoke(app, ["index", "--store", str(tmp_path / "none.db")])
    assert result.exit_code == 4
    assert "none.db" in result.output and "shelfgraph ingest" in result.output


@pytest.fixture
def chroma_server(tmp_path):
    """A real Chroma server (`chroma run`) on a free 127.0.0.1 port; yields its URL."""
    import socket
    import time

    import httpx

    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        pytest.skip(f"no `chroma` command beside {sys.executable}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "chroma.log").open("w")
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "chroma.log").read_text()
            assert time.monotonic() < deadline, "chroma server did not start in 60 s"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_a_chroma_server_serves_several_clients(chroma_server):
    writer = CatalogIndex.open(url=chroma_server)
    assert writer.index_products(EXAMPLES) == len(EXAMPLES)
    assert writer.index_examples(EXAMPLES) == len(EXAMPLES)
    other = CatalogIndex.open(url=chroma_server)  # another client sees the same records
    assert other.index_products(EXAMPLES) == 0
    shoes = Product(id="q", title="Nike Air running shoe", product_type="Shoes")
    assert [p.product_type for p in other.similar_examples(shoes, k=2, scope=EXAMPLES_SET)] == ["Shoes", "Shoes"]


def test_bad_chroma_url_is_a_clear_error():
    with pytest.raises(ValueError, match="--chroma-url"):
        CatalogIndex.open(url="localhost:8000")


MORE_COFFEE = [
    coffee("m1", "Starbucks Pike Place Medium Roast Ground Coffee, 12 oz", Brand="Starbucks", Roast="Medium Roast"),
    coffee("m2", "Starbucks Pike Place Roast Whole Bean Coffee, 28 oz", Brand="Starbucks"),
    coffee("m3", "Peet's Major Dickason's Blend Dark Roast Ground Coffee, 18 oz", Brand="Peet's"),
]


def test_a_run_retrieves_from_its_own_training_set_and_taxonomy_only(tmp_path, monkeypatch):
    """The same set gives the same demonstrations and candidates in a fresh folder and in one
    where a larger set was indexed first; its examples' vectors are then reused, not embedded."""
    import shelfgraph.retrieval.index

    small, large = EXAMPLES[:3] + EXAMPLES[5:7], EXAMPLES + MORE_COFFEE
    small_taxonomy = [n for n in TAXONOMY if n.id not in ("shoes", "sneak")]
    query = Product(id="q", title="Starbucks Pike Place Medium Roast Ground Coffee, 28 oz", product_type="Coffee")

    def retrieved(index: CatalogIndex) -> tuple[list[str], list[str]]:
        demos = index.similar_examples(query, k=3, scope=examples_set(small))
        nodes = index.taxonomy_candidates("running sneakers", k=3, scope=taxonomy_set(small_taxonomy))
        return [p.id for p in demos], [node_id for node_id, _ in nodes]

    fresh = CatalogIndex.open(tmp_path / "fresh")
    fresh.index_examples(small)
    fresh.index_taxonomy(small_taxonomy)
    expected = retrieved(fresh)
    assert set(expected[0]) <= {p.id for p in small} and "sneak" not in expected[1]

    shared = CatalogIndex.open(tmp_path / "shared")
    shared.index_examples(large)
    shared.index_taxonomy(TAXONOMY)
    embedded: list[str] = []
    monkeypatch.setattr(shelfgraph.retrieval.index, "embed", lambda texts, batch_size=64: embedded.extend(texts) or embed(texts))
    assert shared.index_examples(small) == len(small) and shared.index_taxonomy(small_taxonomy) == len(small_taxonomy)
    assert embedded == []  # every record's content was already there, in the larger sets
    assert retrieved(shared) == expected
    assert shared.index_examples(small) == 0 and shared.index_taxonomy(small_taxonomy) == 0


WRITER = """
import sys, time
from pathlib import Path
import chromadb, numpy as np
from chromadb.config import Settings
from shelfgraph.retrieval.folder import ChromaFolder
from shelfgraph.retrieval.index import CatalogIndex, examples_set
from shelfgraph.models import Product

path, tag = Path(sys.argv[1]), sys.argv[2]
index = CatalogIndex.open(path)
mine = [Product(id=f"{tag}{i}", title=f"{tag} roast coffee number {i}", product_type="Coffee",
                attributes={"Brand": [tag]}) for i in range(3)]
index.index_examples(mine)
(path.parent / f"ready-{tag}").touch()
while len(list(path.parent.glob("ready-*"))) < 2:  # both loaded: now write at the same time
    time.sleep(0.05)
folder = ChromaFolder.of(path, lambda p: chromadb.PersistentClient(path=str(p), settings=Settings(anonymized_telemetry=False)))
rng = np.random.default_rng(len(tag))
for batch in range(30):
    with folder.session() as client:
        raw = client.get_or_create_collection("raw-vectors", configuration={"hnsw": {"space": "cosine"}})
        raw.add(ids=[f"{tag}-{batch}-{i}" for i in range(100)], embeddings=rng.normal(size=(100, 8)).astype(np.float32))
        folder.changed()
print(" ".join(p.id for p in index.similar_examples(mine[0], k=2, scope=examples_set(mine))))
"""


def test_processes_writing_one_folder_at_once_lose_nothing(tmp_path):
    """Two processes index their own sets and add 3,000 vectors each to one folder at once;
    each reads back its own examples, and every vector is found afterwards (without the
    folder's lock, 50-100 of 6,000 went missing from queries)."""
    folder = tmp_path / "index"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder), tag], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for tag in ("a", "b")]
    outputs = [writer.communicate(timeout=600) for writer in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0, err
    assert [out.split() for out, _ in outputs] == [["a1", "a2"], ["b1", "b2"]]
    index = CatalogIndex.open(folder)
    assert index.counts()["examples"] == 6
    raw = index.client.get_collection("raw-vectors")
    assert raw.count() == 6000
    found = raw.query(query_embeddings=[np.ones(8, dtype=np.float32)], n_results=6000, include=[])
    assert len(found["ids"][0]) == 6000
