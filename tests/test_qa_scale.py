"""Questions on a bigger graph read only what they need, with the answers of a full scan:
value filters read the facts with those values, value phrases are compared only with the
values holding their first word (what keeps `ask` and the web answer fast at 1M facts)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from eval.bench.web import make_store, questions
from shelfgraph.models import attribute_predicate
from shelfgraph.qa import Session
from shelfgraph.qa.vocabulary import tokens
from shelfgraph.store import Ledger


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "bench.db"
    make_store(path, 5_000)  # 500 products of 20 types, ten attribute facts each
    return path


def test_facts_with_values_are_those_a_full_scan_finds(store: Path):
    predicates = [attribute_predicate("Form"), attribute_predicate("Caffeine content")]
    with Ledger(store, read_only=True) as ledger:
        for values in (["PODS"], ["ground", "Decaf"], ["no such value"]):
            wanted = {v.lower() for v in values}
            scanned = [f for f in ledger.facts(predicate=predicates) if f.object.lower() in wanted]
            assert ledger.facts_with_values(predicates, values) == scanned
            assert scanned or values == ["no such value"]


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
    asked = questions(12, 500, random.Random(3))
    with Session(store) as session:
        for question in asked:
            answer = session.ask(question)
            session.reset()
            assert answer.kind == "graph", (question, answer.text)
            assert answer.citations and all(c.evidence == c.value for c in answer.citations), question
