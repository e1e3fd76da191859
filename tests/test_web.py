"""`shelfgraph serve` without a browser: every page over a real store through Starlette's
TestClient; escaping, evidence spans, cited answers, the review queue and its actions
(CSRF, `--allow-review`), a read-only store left untouched, eval run pages."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shelfgraph.eval.report import decision_curve
from shelfgraph.eval.runs import save_run
from shelfgraph.cli import app as cli
from shelfgraph.ingest import ingest_paths
from shelfgraph.models import (BROADER, SAME_AS, Fact, Product, Provenance, TextSnippet, attribute_predicate,
                               type_subject, value_subject)
from shelfgraph.store import Ledger
from shelfgraph.web.app import WebSettings, create_app
from shelfgraph.web.evidence import evidence_of
from shelfgraph.web.filters import anchor
from store_support import as_before_m003

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
TITLE_021 = json.loads((DEMO / "catalog.jsonl").read_text("utf-8").splitlines()[1])["title"]
HOSTILE = '<script>alert(1)</script> Evil "Roast" Coffee <b>bold</b> & co'
EVIL_ID = "evil/1?x=<i>"
DESCRIPTION = "Dark roast. <img src=x onerror=alert(2)> Whole bean, from Sumatra & Java."
BRAND = "Contoso Beans"


def _fact(subject: str, attribute: str, value: str, confidence: float | None, field: str | None = None,
          start: int | None = None, step: str = "imputation", predicate: str | None = None) -> Fact:
    return Fact(subject=subject, predicate=predicate or attribute_predicate(attribute), object=value,
                confidence=confidence,
                provenance=Provenance(step=step, method="baseline", run_id="r-test", model="crf", prompt="p@1#ab",
                                      source_field=field, start=start,
                                      end=None if start is None else start + len(value)))


# Facts of the review queue, by kind: one flagged by cleaning, two conflicting values, two of
# low confidence (and one confident fact that is in no queue).
FLAGGED = _fact(EVIL_ID, "Origin", "Java", 0.7, "description", DESCRIPTION.index("Java"))
CONFLICT_A = _fact("demo-021", "Roast type", "Medium Roast", 0.9, "title", TITLE_021.index("Medium Roast"))
CONFLICT_B = _fact("demo-021", "Roast type", "Dark", 0.8)
LOW_1 = _fact(EVIL_ID, "Form", "Whole bean", 0.2, "description", DESCRIPTION.index("Whole bean"))
LOW_2 = _fact(EVIL_ID, "Roast type", "Dark roast", 0.4, "description", 0)
SURE = _fact(EVIL_ID, "Brand", BRAND, 0.95, "review:r1", 0)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo catalogue and taxonomy, one hostile product with a description and a review,
    facts for every queue kind, a type placed in the taxonomy and a synonym."""
    path = tmp_path_factory.mktemp("web") / "graph.db"
    evil = Product(id=EVIL_ID, title=HOSTILE, description=DESCRIPTION, product_type="Coffee",
                   reviews=[TextSnippet(id="r1", text=f"{BRAND} <em>never</em> disappoints")])
    with Ledger(path) as ledger:
        run = ledger.start_run("build")
        ingest_paths(ledger, [DEMO / "taxonomy", DEMO / "catalog.jsonl"], run.id)
        ledger.upsert_products([evil], run.id)
        facts = [FLAGGED, CONFLICT_A, CONFLICT_B, LOW_1, LOW_2, SURE,
                 _fact(type_subject("cold brew"), "", "fb-1-3", 0.8, step="hypernym", predicate=BROADER),
                 _fact(value_subject("Roast type", "Dark"), "", value_subject("Roast type", "Dark roast"), 0.9,
                       step="synonyms", predicate=SAME_AS)]
        ledger.add_facts([f.model_copy(update={"provenance": f.provenance.model_copy(update={"run_id": run.id})})
                          for f in facts])
        assert ledger.product("demo-021").title == TITLE_021
        ledger.set_status([FLAGGED.id], "rejected", run.id, "cleaning: p(wrong)=0.910")  # ids leave out the run
        ledger.finish_run(run, {"products": 201})
    return path


def facts_of(path: Path, product_id: str) -> list[Fact]:
    with Ledger(path, read_only=True) as ledger:
        return ledger.facts(subject=product_id, status=None)


@pytest.fixture
def writable(store: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "graph.db"
    shutil.copy(store, copy)
    return copy


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    rows_a = [{"id": "t1", "category": "Coffee", "title": "Folgers Decaf", "gold": {"Brand": ["Folgers"]},
               "pred": {"Brand": "Folgers"}, "outcomes": {"Brand": "VC"}, "spans": {"Brand": {"confidence": 0.9}}},
              {"id": "t2", "category": "Coffee", "title": "Lavazza Oro", "gold": {"Brand": ["Lavazza"]},
               "pred": {"Brand": "Oro"}, "outcomes": {"Brand": "VW"}, "spans": {"Brand": {"confidence": 0.4}}}]
    rows_b = [dict(rows_a[0]), {**rows_a[1], "pred": {"Brand": "Lavazza"}, "outcomes": {"Brand": "VC"}}]
    save_run(tmp_path / "runs", "extraction", {"method": "baseline"}, {"f1": 50.0}, rows_a)
    save_run(tmp_path / "runs", "extraction", {"method": "hybrid"}, {"f1": 100.0}, rows_b)
    save_run(tmp_path / "runs", "cleaning", {"method": "baseline"}, {"aupr": 0.83},
             [{"id": "c1", "gold": 1, "pred": 0.9}, {"id": "c2", "gold": 0, "pred": 0.3},
              {"id": "c3", "gold": 1, "pred": 0.2}])
    return tmp_path / "runs"


def client(store: Path, runs_dir: Path | None = None, **settings) -> TestClient:
    from shelfgraph.eval.web import router as eval_pages

    app = create_app(WebSettings(store=store, runs_dir=runs_dir or store.parent / "runs", reviewer="tester",
                                 eval_pages=eval_pages, **settings))
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "the review page carries the CSRF token"
    return match.group(1)


def post(web: TestClient, **form: str):
    return web.post("/review", data=form)


def digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


# pages ------------------------------------------------------------------------------------
def test_overview_counts_the_graph_and_charts_its_growth(store: Path):
    with client(store) as web:
        html = web.get("/").text
    assert re.search(r"<b>201</b> products", html)
    assert "<svg" in html and "<polyline" in html and "facts in the graph" in html
    assert '<span class="status rejected">rejected</span></td><td class="num">1</td>' in html
    for step in ("ingest", "imputation", "hypernym", "synonyms"):
        assert f"<td>{step}</td>" in html


def test_search_pages_through_products(store: Path):
    with client(store) as web:
        first, second = web.get("/products").text, web.get("/products?page=2").text
        coffee = web.get("/products", params={"q": "coffee"}).text
        none = web.get("/products", params={"q": "no such thing 42%_"}).text
    assert first.count('class="product"') == 50 and 'rel="next"' in first
    assert 'rel="prev"' in second and "demo-001" in first and "demo-001" not in second
    assert "Door County Coffee" in coffee and "Aveda" not in coffee
    assert "No products" in none


def test_product_page_shows_every_fact_with_provenance_and_its_evidence_marked(store: Path):
    with client(store) as web:
        html = web.get("/products/demo-021").text
    assert "<mark>Medium Roast</mark>" in html  # the span, in its title
    assert f'id="{anchor(CONFLICT_A.id)}"' in html and f'id="{anchor(CONFLICT_B.id)}"' in html
    assert re.search(r"<td>\s*No text span|no text span", html)  # CONFLICT_B has no source field
    for shown in ("imputation / baseline", "crf", "p@1#ab", "0.90", '<span class="status active">'):
        assert shown in html


def test_product_text_is_escaped_on_every_page(store: Path):
    with client(store) as web:
        pages = [web.get(f"/products/{quote(EVIL_ID)}").text, web.get("/products", params={"q": "Evil"}).text,
                 web.get("/review").text, web.get("/ask", params={"q": "which coffees have brand Contoso Beans"}).text,
                 web.get("/attributes/Brand", params={"value": BRAND}).text]
    for html in pages:
        assert "<script>alert(1)</script>" not in html and "<b>bold</b>" not in html
        assert "<script" not in html  # no page carries a script at all
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; Evil &#34;Roast&#34; Coffee &lt;b&gt;bold&lt;/b&gt; &amp; co"
    assert escaped in pages[0]
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[0] and "<img" not in pages[0]
    assert f"<mark>{BRAND}</mark> &lt;em&gt;never&lt;/em&gt; disappoints" in pages[0]  # a review span


def quote(text: str) -> str:
    from urllib.parse import quote as q

    return q(text, safe="")


def test_evidence_is_the_span_inside_its_field_with_context():
    product = Product(id="p", title="T", description="x" * 300 + "Decaf" + "y" * 300)
    found = evidence_of(product, Provenance(step="s", method="m", run_id="r", source_field="description",
                                            start=300, end=305))
    assert found is not None and found.span == "Decaf" and found.clipped_before and found.clipped_after
    assert found.before == "x" * 160 and found.after == "y" * 160
    outside = evidence_of(product, Provenance(step="s", method="m", run_id="r", source_field="title", start=3, end=9))
    assert outside is not None and outside.problem and "outside the title" in outside.problem and not outside.span
    missing = evidence_of(product, Provenance(step="s", method="m", run_id="r", source_field="review:9",
                                              start=0, end=1))
    assert missing is not None and missing.problem == "the product has no review:9"
    catalogue = evidence_of(product, Provenance(step="ingest", method="gold", run_id="r", source_field="catalogue"))
    assert catalogue is not None and catalogue.problem is None and not catalogue.span
    assert evidence_of(product, Provenance(step="s", method="m", run_id="r")) is None


def test_taxonomy_marks_the_types_a_build_placed(store: Path):
    with client(store) as web:
        roots, coffee = web.get("/taxonomy").text, web.get("/taxonomy", params={"node": "fb-1-3"}).text
        food = web.get("/taxonomy", params={"node": "fb"}).text
        missing = web.get("/taxonomy", params={"node": "nope"})
    assert "Food, Beverages &amp; Tobacco" in roots and "cold brew" in roots
    assert re.search(r"Food, Beverages &amp; Tobacco</a>.*?› .*?Coffee</a>", roots, re.S)  # where it was placed
    assert "Types a build placed here" in coffee and "cold brew" in coffee and "0.80" in coffee
    assert "1 added" in food  # marked on the branch that leads to it
    assert missing.status_code == 404


def test_attribute_page_counts_values_and_merges_synonyms(store: Path):
    with client(store) as web:
        listing, roast = web.get("/attributes").text, web.get("/attributes/Roast type").text
        value = web.get("/attributes/Brand", params={"value": BRAND}).text
    assert 'href="/attributes/Roast%20type"' in listing
    assert "same as Dark roast" in roast and '<span class="tag">Dark</span>' in roast
    assert quote(EVIL_ID) in value


def test_ask_cites_facts_linked_to_their_product_rows(store: Path):
    with client(store) as web:
        answer = web.get("/api/ask", params={"q": "Which coffees have brand Contoso Beans?"}).json()
        page = web.get("/ask", params={"q": "Which coffees have brand Contoso Beans?"}).text
        product = web.get(f"/products/{quote(EVIL_ID)}").text
        follow = web.get(f"/facts/{answer['citations'][0]['fact_id']}")
    cited = [c for c in answer["citations"] if c["value"] == BRAND]
    assert answer["product_ids"] == [EVIL_ID] and cited
    assert cited[0]["source_field"] == "review:r1" and (cited[0]["start"], cited[0]["end"]) == (0, len(BRAND))
    link = f'href="/products/{quote(EVIL_ID)}#{anchor(cited[0]["fact_id"])}"'
    assert link in page and f"<mark>{BRAND}</mark>" in page
    assert f'id="{anchor(cited[0]["fact_id"])}"' in product  # the link lands on the fact's row
    assert follow.status_code == 303 and follow.headers["location"].startswith(f"/products/{quote(EVIL_ID)}#fact-")


def test_unknown_things_are_not_found(store: Path):
    with client(store) as web:
        for url in ("/products/nope", "/runs/nope", "/facts/sha256:00", "/facts/nothex", "/eval/nope"):
            assert web.get(url).status_code == 404, url


def test_a_store_written_before_the_covering_indexes_is_served_as_it_is(writable: Path):
    """Serving reads a store an older shelfgraph wrote without applying m003 (it only widens
    indexes): the answer is the same and the file is not written."""
    as_before_m003(writable)
    before = digest(writable)
    with client(writable) as web:
        response = web.get("/api/ask", params={"q": "Which coffees have brand Contoso Beans?"})
        page = web.get("/ask", params={"q": "Which coffees have brand Contoso Beans?"})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["product_ids"] == [EVIL_ID] and f"<mark>{BRAND}</mark>" in page.text
    assert digest(writable) == before


# security -----------------------------------------------------------------------------------
def test_only_this_machine_may_call_and_pages_forbid_scripts(store: Path):
    with client(store) as web:
        assert web.get("/", headers={"host": "attacker.example"}).status_code == 400
        response = web.get("/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_viewing_and_asking_never_write_a_read_only_store(store: Path, tmp_path: Path):
    before = digest(store)
    with client(store) as web:
        for url in ("/", "/products", f"/products/{quote(EVIL_ID)}", "/products/demo-021", "/taxonomy",
                    "/taxonomy?node=fb", "/attributes", "/attributes/Brand", "/review", "/ask?q=decaf+coffee",
                    "/api/ask?q=which+coffees+are+from+Folgers", "/api/ask?q=%27%3B+DROP+TABLE+facts%3B+--"):
            assert web.get(url).status_code == 200, url
        refused = post(web, action="reject", fact_id=FLAGGED.id, csrf="0")
    assert refused.status_code == 403 and "--allow-review" in refused.text
    assert digest(store) == before
    wal = store.with_name(store.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_review_actions_need_allow_review_and_the_token(writable: Path):
    with client(writable) as web:  # read-only: the page lists, the action is refused
        page = web.get("/review").text
        assert "Accept</button>" not in page and "--allow-review" in page
    fact_id = _flagged_id(writable)
    with client(writable, allow_review=True) as web:
        token = csrf_of(web.get("/review").text)
        assert post(web, action="accept", fact_id=fact_id).status_code == 403
        assert post(web, action="accept", fact_id=fact_id, csrf="0" * 64).status_code == 403
        assert post(web, action="accept", fact_id=fact_id, csrf="é" + token[1:]).status_code == 403
        as_json = web.post("/review", json={"action": "accept", "fact_id": fact_id, "csrf": token})
        assert as_json.status_code == 400
        assert post(web, action="delete", fact_id=fact_id, csrf=token).status_code == 400
        assert post(web, action="accept", fact_id="sha256:" + "0" * 32, csrf=token).status_code == 400
        assert _status(writable, fact_id) == "rejected"  # nothing refused changed anything
        done = post(web, action="accept", fact_id=fact_id, csrf=token)
    assert done.status_code == 303 and done.headers["location"].startswith("/review?done=accept")
    assert _status(writable, fact_id) == "active"


def _flagged_id(path: Path) -> str:
    return next(f.id for f in facts_of(path, EVIL_ID) if f.object == "Java")


def _status(path: Path, fact_id: str) -> str:
    return next(f.status for f in facts_of(path, EVIL_ID) + facts_of(path, "demo-021") if f.id == fact_id)


# review -------------------------------------------------------------------------------------
def queue_ids(web: TestClient, page: int = 1) -> list[str]:
    return re.findall(r'<tr class="fact \w+" data-fact-id="([^"]+)"', web.get(f"/review?page={page}").text)


def test_queue_lists_flagged_then_conflicts_then_low_confidence(store: Path):
    ids = {f.object: f.id for f in facts_of(store, EVIL_ID) + facts_of(store, "demo-021")}
    with client(store) as web:
        order = queue_ids(web)
    expected = [ids["Java"], ids["Dark"], ids["Medium Roast"], ids["Whole bean"], ids["Dark roast"]]
    assert [i for i in order if i in expected] == expected
    assert ids[BRAND] not in order  # confident, alone: nothing to review


def test_queue_pages_continue_across_kinds(store: Path):
    from shelfgraph.web.data import GraphData

    data = GraphData(store, session=lambda: None)  # type: ignore[arg-type, return-value]
    try:
        whole = data.review_queue(1, 1000)
        assert not whole.more
        paged, page = [], 1
        while True:
            part = data.review_queue(page, 2)
            paged += part.items
            if not part.more:
                break
            page += 1
    finally:
        data.close()
    assert page == (len(whole.items) + 1) // 2
    assert [r.item.fact.id for r in paged] == [r.item.fact.id for r in whole.items]
    items = [r.item for r in whole.items]
    assert [i.why for i in items[:3]] == ["flagged", "conflict", "conflict"]
    assert items[0].detail == "cleaning: p(wrong)=0.910" and items[1].detail == "other values: 'Medium Roast'"


def test_accept_reject_and_correct_are_recorded_decisions(writable: Path):
    ids = {f.object: f.id for f in facts_of(writable, EVIL_ID) + facts_of(writable, "demo-021")}
    with client(writable, allow_review=True) as web:
        token = csrf_of(web.get("/review").text)
        post(web, action="accept", fact_id=ids["Whole bean"], csrf=token)
        post(web, action="reject", fact_id=ids["Dark"], csrf=token)
        corrected = post(web, action="correct", fact_id=ids["Dark roast"], value="Sumatra", csrf=token)
        assert post(web, action="correct", fact_id=ids["Java"], value="  ", csrf=token).status_code == 400
        remaining = queue_ids(web)
    new_id = re.search(r"fact=sha256%3A([0-9a-f]+)", corrected.headers["location"]).group(1)
    new_id = "sha256:" + new_id
    facts = {f.id: f for f in facts_of(writable, EVIL_ID) + facts_of(writable, "demo-021")}
    assert facts[ids["Whole bean"]].status == "active" and facts[ids["Dark"]].status == "rejected"
    assert facts[ids["Dark roast"]].status == "rejected"
    new = facts[new_id]
    assert (new.object, new.status) == ("Sumatra", "active")
    assert (new.provenance.step, new.provenance.method) == ("review", "human")
    assert (new.provenance.source_field, new.provenance.start) == ("description", DESCRIPTION.index("Sumatra"))
    with Ledger(writable, read_only=True) as ledger:
        accepted = ledger.fact_history(ids["Whole bean"])[-1]
        review_runs = [r for r in ledger.runs(100) if r.command == "review"]
    assert accepted["status"] == "active" and accepted["reason"] == "review: accepted by tester"
    assert len(review_runs) == 3 and all(r.status == "finished" and r.config["who"] == "tester" for r in review_runs)
    assert not {ids["Whole bean"], ids["Dark"], ids["Dark roast"], new_id} & set(remaining)
    assert ids["Java"] in remaining


def test_a_review_while_another_process_writes_is_refused_with_the_reason(writable: Path):
    from shelfgraph import writelock

    fact_id = _flagged_id(writable)
    with client(writable, allow_review=True) as web:
        token = csrf_of(web.get("/review").text)
        lock = writelock.acquire(writable)
        try:
            refused = post(web, action="reject", fact_id=fact_id, csrf=token)
        finally:
            lock.close()
    assert refused.status_code == 409 and "is writing to" in refused.text
    assert _status(writable, fact_id) == "rejected" and len(_review_events(writable)) == 0


def _review_events(path: Path) -> list:
    with Ledger(path, read_only=True) as ledger:
        return ledger.db.execute("SELECT * FROM fact_events WHERE reason LIKE 'review:%'").fetchall()


# eval runs ----------------------------------------------------------------------------------
def test_eval_pages_show_scores_curves_and_two_runs_side_by_side(store: Path, runs_dir: Path):
    ids = {(r["task"], r["config"]["method"]): r["id"]
           for r in (json.loads((p / "run.json").read_text()) for p in runs_dir.iterdir())}
    extraction = [ids[("extraction", "baseline")], ids[("extraction", "hybrid")]]
    cleaning = ids[("cleaning", "baseline")]
    with client(store, runs_dir) as web:
        listing = web.get("/eval").text
        one = web.get(f"/eval/{extraction[0]}").text
        both = web.get("/eval/compare", params={"a": extraction[0], "b": extraction[1]}).text
        decisions = web.get(f"/eval/{cleaning}").text
        mixed = web.get("/eval/compare", params={"a": extraction[0], "b": cleaning})
        outside = web.get("/eval/compare", params={"a": "../runs", "b": extraction[1]})
    assert all(i in listing for i in ids.values())
    assert "<polyline" in one and "AUPR" in one and '<table id="attribute-scores">' in one
    assert re.search(r"<td>Coffee</td><td>Brand</td>.*?50", one, re.S)
    assert "50.00" in both and "100.00" in both
    assert re.search(r'class="num up">50', both) and "Lavazza Oro" in both  # the changed example
    assert "<polyline" in decisions  # cleaning rows (gold 0/1, pred = score) get a curve too
    assert mixed.status_code == 400 and outside.status_code == 404


def test_decision_curve_reads_the_rows_eval_saves():
    rows = [{"id": "a", "gold": 1, "pred": 0.9}, {"id": "b", "gold": 0, "pred": 0.1}]
    assert decision_curve(rows) == ([1, 0], [0.9, 0.1])
    assert decision_curve([{"label": 1, "score": 0.5}]) == ([1], [0.5])
    assert decision_curve([{"id": "x", "gold": "fb-1", "pred": ["fb-1"]}]) is None  # not a scored decision


# the command --------------------------------------------------------------------------------
def test_serve_refuses_a_missing_store(tmp_path: Path):
    result = CliRunner().invoke(cli, ["serve", "--store", str(tmp_path / "none.db")])
    assert result.exit_code == 4 and "no graph at" in result.output  # a missing file (docs/exit-status.md)


def test_an_answer_page_lists_at_most_a_hundred_products_and_counts_the_rest(store: Path):
    with client(store) as web:
        page = web.get("/ask", params={"q": "which products are coffee"}).text
        full = web.get("/api/ask", params={"q": "which products are coffee"}).json()
        limited = web.get("/api/ask", params={"q": "which products are coffee", "limit": 3}).json()
        count = web.get("/api/ask", params={"q": "how many coffee products are there", "limit": 3}).json()
    total = len(full["product_ids"])
    assert total > 3 and len(limited["product_ids"]) == 3 and f"{total} product(s) match" in limited["text"]
    assert "showing 3" in limited["text"] and f"{total} product(s) match" in page
    assert count["text"].startswith(f"{total} product(s)") and len(count["product_ids"]) == total
    assert full["total"] == limited["total"] == count["total"] == total


def test_a_long_answer_comes_a_page_at_a_time(store: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("shelfgraph.web.asking.SHOWN", 2)  # the answer page lists two products a page
    question = "which products are coffee"
    with client(store) as web:
        full = web.get("/api/ask", params={"q": question}).json()
        second = web.get("/api/ask", params={"q": question, "limit": 3, "page": 2}).json()
        first_page = web.get("/ask", params={"q": question}).text
        second_page = web.get("/ask", params={"q": question, "page": 2}).text
    ids = full["product_ids"]
    assert len(ids) > 5 and second["product_ids"] == ids[3:6] and second["total"] == len(ids)
    assert "showing 4-6" in second["text"]
    assert {c["product_id"] for c in second["citations"]} <= set(ids[3:6])  # only the page's facts are cited
    assert f"/products/{ids[0]}" in first_page and f"/products/{ids[2]}" not in first_page
    assert 'rel="next"' in first_page and f"/products/{ids[2]}" in second_page and 'rel="prev"' in second_page
