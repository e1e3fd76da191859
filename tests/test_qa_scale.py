"""Questions on a bigger graph read only what they need, with the answers of a full scan:
value filters read the facts with those values, value phrases are compared only with the
values holding their first word (what keeps `ask` and the web answer fast at 1M facts)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from shelfgraph.eval.bench.web import BROAD, SELECTIVE, make_store, questions
from shelfgraph.models import ATTRIBUTE_PREFIX, attribute_predicate, product_id_of
from shelfgraph.qa import Filter, GraphQuery, Session, execute
from shelfgraph.qa.vocabulary import tokens
from shelfgraph.store import Ledger
from store_support import as_before_m003


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "bench.db"
    make_store(path, 5_000)  # 500 products of 20 types, ten attribute facts each
    return path


def test_facts_where_are_those_a_full_scan_finds(store: Path):
    predicates = [attribute_predicate("Form"), attribute_predicate("Caffeine content")]
    with Ledger(store, read_only=True) as ledger:
        every = ledger.facts(predicate=predicates)
        for values in (["PODS"], ["ground", "Decaf"], ["no such value"]):
            wanted = {v.lower() for v in values}
            scanned = [f for f in every if f.object.lower() in wanted]
            assert ledger.facts_where(predicates, values=values) == scanned
            assert scanned or values == ["no such value"]
        subjects = [f"p{n:07d}" for n in range(0, 500, 3)] + ["nobody"]
        assert ledger.facts_where(predicates, subjects=subjects) == [f for f in every if f.subject in subjects]
        both = ledger.facts_where(predicates, values=["pods"], subjects=subjects)
        assert both == [f for f in every if f.subject in subjects and f.object == "pods"] and both
        assert ledger.facts_where(predicates, values=[]) == [] == ledger.facts_where(predicates, subjects=[])


def _ids_by_scan(query: GraphQuery, graph) -> list[str]:
    """`execute`'s products as it found them before: every product of the types, then every
    fact of each filtered attribute."""
    from shelfgraph.qa.executor import _holds

    ids = graph.ids_of_types(query.product_types) if query.product_types else {
        p.id for p in graph.ledger.products()}
    for flt in query.filters:
        facts = [f for f in graph.ledger.facts(predicate=[ATTRIBUTE_PREFIX + a for a in flt.attributes])
                 if product_id_of(f.subject) in ids and _holds(flt, f.object)]
        holding = {product_id_of(f.subject) for f in facts}
        ids = ids - holding if flt.op == "ne" else ids & holding
    return sorted(ids)


@pytest.mark.parametrize("per_product", [0, 2_000], ids=["by-attribute", "by-product"])
def test_queries_find_what_a_full_scan_finds(store: Path, per_product: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("shelfgraph.qa.graph.PER_PRODUCT", per_product)  # both ways of reading facts
    rng = random.Random(5)
    found = 0
    with Session(store) as session:
        values = session.vocabulary.values
        for _ in range(40):
            types = rng.sample(["Coffee", "Tea", "Soap", "Jam"], rng.randrange(3))
            filters = []
            for attribute in rng.sample(["Form", "Caffeine content", "Brand", "Gender"], rng.randrange(1, 3)):
                chosen = rng.sample(sorted(values[attribute]), 2)
                filters.append(Filter(attributes=[attribute], op=rng.choice(["eq", "eq", "ne"]),
                                      values=[chosen[0].upper(), chosen[1]]))
            query = GraphQuery(product_types=types, filters=filters)
            result = execute(query, session.graph)
            assert result.product_ids == _ids_by_scan(query, session.graph), query.describe()
            found += bool(result.product_ids)
            for row in result.rows:  # every eq filter's value is cited for every product
                cited = {c.predicate for c in row.citations}
                assert all(ATTRIBUTE_PREFIX + f.attributes[0] in cited for f in filters if f.op == "eq")
    assert found >= 10  # the queries are not all empty


def _matching_by_scan(vocabulary, attribute: str, words: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """`Vocabulary._matching` as it was: every value of the attribute compared with the phrase."""
    from shelfgraph.qa.vocabulary import EXCLUDING, _contains

    exact, containing = [], []
    for value in vocabulary.values.get(attribute, {}):
        value_words = vocabulary._value_tokens[(attribute, value)]
        if value_words == words or (len(words) == len(value_words) == 1 and len(words[0]) >= 5
                                    and words[0].isalpha() and value_words[0].startswith(words[0])):
            exact.append(value)
        elif _contains(value_words, words) and not (EXCLUDING & set(value_words)) - set(words):
            containing.append(value)
    return exact, containing


def test_value_phrases_match_as_a_full_scan_does(store: Path):
    with Session(store) as session:
        vocabulary = session.vocabulary
        phrases = {tuple(tokens(p)) for p in ("pods", "ground", "decaf", "half caf", "caf", "regular",
                                              "extra caffeine", "flavor", "blue", "cotton", "whole bean", "bean")}
        for attribute, by_value in vocabulary.values.items():
            for value in list(by_value)[:40]:
                words = tuple(tokens(value))
                phrases |= {words, words[:1], words[-1:], words[:2]}
                phrases.add((words[0][:5],))  # a prefix of a one-word value
        for attribute in vocabulary.values:
            for words in phrases:
                if words:
                    assert vocabulary._matching(attribute, words) == _matching_by_scan(vocabulary, attribute, words)


def test_benchmark_questions_are_answered_with_their_evidence(store: Path):
    asked = questions(8, 500, random.Random(3), SELECTIVE) + questions(4, 500, random.Random(4), BROAD)
    with Session(store) as session:
        for question in asked:
            answer = session.ask(question)
            session.reset()
            assert answer.kind == "graph", (question, answer.text)
            assert answer.citations and all(c.evidence == c.value for c in answer.citations), question


@pytest.mark.parametrize("schema", ["m003", "before-m003"])
def test_matching_products_are_those_a_scan_finds(tmp_path: Path, schema: str):
    """`Ledger.matching_products` against a scan in Python, started from the values (few facts)
    and from the types (few products), with types given by facts in another case, products
    without a catalogue type, negations and title words; on a store with the covering indexes
    of m003 and on one written before them (read as it is)."""
    from shelfgraph.models import PRODUCT_TYPE, Fact, Provenance, product_subject
    from shelfgraph.store import HasValue

    store = tmp_path / "bench.db"
    make_store(store, 3_000)  # 300 products of 20 types
    with Ledger(store) as ledger:
        run = ledger.start_run("test")
        ledger.upsert_products([p.model_copy(update={"product_type": None}) for p in ledger.products(limit=20)],
                               run.id)  # 20 products with no catalogue type ...
        ledger.add_facts(Fact(subject=product_subject(f"p{n:07d}"), predicate=PRODUCT_TYPE, object="TEA",
                              provenance=Provenance(step="type", method="baseline", run_id=run.id))
                         for n in range(0, 20, 2))  # ... half of them typed by a build, as "TEA"
        ledger.set_status([f.id for f in ledger.facts(predicate=attribute_predicate("Form"))[:30]], "rejected",
                          run.id)  # inactive facts hold no value
    if schema == "before-m003":
        as_before_m003(store)
    rng = random.Random(9)
    with Ledger(store, read_only=True) as ledger:
        products = list(ledger.products())
        facts = ledger.facts()
        typed = {(product_id_of(f.subject), f.object.lower()) for f in facts if f.predicate == PRODUCT_TYPE}
        values = sorted({(f.predicate, f.object) for f in facts if f.predicate.startswith(ATTRIBUTE_PREFIX)})
        broad = [v for v in values if v[0] in (attribute_predicate("Form"), attribute_predicate("Gender"))]
        starts = set()
        for _ in range(60):
            types = rng.sample(["Tea", "coffee", "Soap", "Jam"], rng.randrange(3))
            picked = rng.sample(values, rng.randrange(2)) + rng.sample(broad, rng.randrange(2))  # few facts, many
            having = [HasValue([p[len(ATTRIBUTE_PREFIX):]], [v.upper() if rng.random() < 0.5 else v],
                               negate=rng.random() < 0.3) for p, v in picked]
            words = rng.sample(["pack", "tea", "oz", "ka"], rng.randrange(2))
            wanted = {t.lower() for t in types}

            def holds(product, condition) -> bool:
                found = any(product_id_of(f.subject) == product.id and f.predicate[len(ATTRIBUTE_PREFIX):]
                            in condition.attributes and f.object.lower() in {v.lower() for v in condition.values}
                            for f in facts)
                return found != condition.negate

            expected = sorted(
                p.id for p in products
                if (not types or (p.product_type or "").lower() in wanted or any((p.id, t) in typed for t in wanted))
                and all(holds(p, c) for c in having) and all(w in p.title.lower() for w in words))
            assert ledger.matching_products(types, having, words) == expected, (types, having, words)
            starts.add(bool(types) and any(not c.negate for c in having))
    assert starts == {True, False}


def test_a_broad_question_checks_each_product_by_one_seek_of_an_index(store: Path):
    """The index m003 widens covers the value check: per product of the type, one seek in
    (predicate, object, status, subject), no read of the product's fact rows (what halved a broad
    answer's SQL at 1M facts, docs/benchmarks.md)."""
    from shelfgraph.store import HasValue

    with Ledger(store, read_only=True) as ledger:
        run: list[str] = []
        ledger.db.set_trace_callback(run.append)
        assert ledger.matching_products(["Tea"], [HasValue(["Form"], ["powder"])])  # 25 tea, ~70 powder
        ledger.db.set_trace_callback(None)
        plan = [row[3] for row in ledger.db.execute("EXPLAIN QUERY PLAN " + run[-1])]
    assert "SEARCH f USING COVERING INDEX fact_rows_by_predicate_object " \
           "(predicate=? AND object=? AND status=? AND subject=?)" in plan, plan
    assert any(step.startswith("SEARCH p USING COVERING INDEX products_by_type") for step in plan), plan


def test_value_type_counts_are_those_a_scan_finds(tmp_path: Path):
    """The vocabulary's source, read as integer rows, against a count over `Ledger.facts()`:
    a value asserted twice for one product counts it once; a product without a type counts
    under ""; retracted facts do not count."""
    from shelfgraph.models import Fact, Provenance, product_subject

    store = tmp_path / "bench.db"
    make_store(store, 2_000)
    with Ledger(store) as ledger:
        run = ledger.start_run("test")
        ledger.upsert_products([p.model_copy(update={"product_type": None}) for p in ledger.products(limit=5)],
                               run.id)
        again = [Fact(subject=product_subject(f"p{n:07d}"), predicate=attribute_predicate("Form"), object="pods",
                      provenance=Provenance(step="ingest", method="gold", run_id=run.id)) for n in range(10)]
        ledger.add_facts(again)
        ledger.set_status([again[0].id], "retracted", run.id)
    with Ledger(store, read_only=True) as ledger:
        type_of = {p.id: p.product_type or "" for p in ledger.products()}
        holders: dict = {}
        for f in ledger.facts():
            if f.predicate.startswith(ATTRIBUTE_PREFIX):
                key = (f.predicate[len(ATTRIBUTE_PREFIX):], f.object, type_of.get(product_id_of(f.subject), ""))
                holders.setdefault(key, set()).add(f.subject)
        expected: dict = {}
        for (attribute, value, kind), subjects in sorted(holders.items()):
            expected.setdefault(attribute, {}).setdefault(value, {})[kind] = len(subjects)
        found = ledger.value_type_counts()
    assert found == expected and list(found) == list(expected)
    assert all(list(found[a]) == list(expected[a]) for a in expected)
    assert "" in found["Form"]["pods"] or any("" in t for t in found["Brand"].values())
