"""Graph questions with known answers: generated from the store's gold facts, or read from a
JSONL file, and scored by the products an answer names (precision, recall, F1)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from shelfgraph.qa import Answer, GraphReader

if TYPE_CHECKING:
    from shelfgraph.qa import Session

MAX_SUPPORT = 20  # a question whose answer lists more products than this is not generated


class EvalQuestion(BaseModel):
    id: str
    question: str
    expected: list[str] = Field(default_factory=list)  # product ids; empty: "not in the graph"
    # follow-ups: earlier questions of the same conversation, asked first
    history: list[str] = Field(default_factory=list)


def plural(type_name: str) -> str:
    name = type_name.lower()
    if name.endswith(("s", "sh", "ch", "x")):
        return name if name.endswith("s") else name + "es"
    return name[:-1] + "ies" if name.endswith("y") and name[-2:-1] not in "aeiou" else name + "s"


def _templates(attribute: str) -> list[str]:
    if attribute == "Brand":
        return ["Which {types} are from {value}?", "List the {types} made by {value}.", "{types} by {value}?"]
    return ["Which {types} have {attribute} {value}?", "Show me the {types} whose {attribute} is {value}.",
            "{types} with {attribute} {value}?"]


def generate(graph: GraphReader, n: int, seed: int) -> list[EvalQuestion]:
    """`n` questions "which <type>s have <attribute> <value>?" over distinct gold (type,
    attribute, value) triples with 1..MAX_SUPPORT products, drawn with `seed`, in several
    phrasings, some without a question word (the model reads their intent) and some as a
    follow-up to an earlier question about a brand."""
    grouped: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    shown: dict[tuple[str, str, str], str] = {}
    for (type_name, attribute, value), ids in graph.ledger.gold_attribute_facts().items():
        key = (type_name, attribute, value.lower())
        grouped[key] |= ids
        shown.setdefault(key, value)
    triples = sorted(k for k, ids in grouped.items() if 1 <= len(ids) <= MAX_SUPPORT)
    rng = random.Random(seed)
    picked = rng.sample(triples, min(n, len(triples)))
    questions = []
    for i, key in enumerate(picked):
        type_name, attribute, _ = key
        template = rng.choice(_templates(attribute))
        text = template.format(types=plural(type_name), attribute=attribute.lower(), value=shown[key])
        history: list[str] = []
        expected = grouped[key]
        # every third question is a follow-up: the same set, reached from a brand's products
        brands = sorted(k for k in grouped if k[0] == type_name and k[1] == "Brand" and grouped[k] & expected
                        and grouped[k] != expected) if attribute != "Brand" else []
        if i % 3 == 2 and brands:
            brand = rng.choice(brands)
            history = [f"Which {plural(type_name)} are from {shown[brand]}?"]
            text = f"and which of those have {attribute.lower()} {shown[key]}?"
            expected = grouped[key] & grouped[brand]
        questions.append(EvalQuestion(id=f"gen-{seed}-{i:03d}", question=text, expected=sorted(expected),
                                      history=history))
    return questions


def read_questions(path: Path) -> list[EvalQuestion]:
    """JSONL, one question per line; a bad line is an error naming the file and line."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record.setdefault("id", f"{path.stem}-{number}")
            questions.append(EvalQuestion.model_validate(record))
        except (json.JSONDecodeError, ValidationError) as error:
            raise ValueError(f"{path}:{number}: not a question record ({error})") from error
    return questions


def write_questions(questions: list[EvalQuestion], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(q.model_dump_json() + "\n" for q in questions), encoding="utf-8")


def answer_question(session: "Session", item: EvalQuestion) -> tuple[Answer, dict[str, float | int]]:
    """Ask `item` in a fresh conversation (its history first) and score the products named."""
    session.reset()
    for earlier in item.history:
        session.ask(earlier)
    answer = session.ask(item.question)
    return answer, score(item.expected, answer.product_ids)


def score(expected: list[str], named: list[str]) -> dict[str, float | int]:
    """tp/fp/fn of the products named, and this question's P/R/F1 (1.0 when both are empty)."""
    gold, got = set(expected), set(named)
    tp, fp, fn = len(gold & got), len(got - gold), len(gold - got)
    precision = tp / (tp + fp) if got else float(not gold)
    recall = tp / (tp + fn) if gold else float(not got)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def summarise(scores: list[dict[str, float | int]], answers: list[Answer]) -> dict[str, float | int]:
    """Micro P/R/F1 over all (question, product) pairs, macro F1, exact answers, not-found answers."""
    tp, fp, fn = (sum(int(s[k]) for s in scores) for k in ("tp", "fp", "fn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    count = len(scores)
    return {
        "questions": count,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "macro_f1": round(sum(float(s["f1"]) for s in scores) / count, 4) if count else 0.0,
        "exact": round(sum(1 for s in scores if s["fp"] == 0 and s["fn"] == 0) / count, 4) if count else 0.0,
        "not_found_answers": sum(1 for a in answers if a.kind == "not_found"),
    }
