"""`shelfgraph ask`, `shelfgraph chat` and `shelfgraph eval questions`: plain-language
questions answered from the graph's facts, with citations; never a write to the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import InputError, UsageError
from .options import LLM_TIMEOUT_S, ApiKeyOpt, LLMKindOpt, LLMOpt, LLMTimeoutOpt, ModelOpt, NoCacheOpt, llm_config

if TYPE_CHECKING:
    from shelfgraph.qa import Session

StoreOpt = Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file (opened read-only).")]
IndexOpt = Annotated[Optional[Path], typer.Option(
    "--index-dir", help="Chroma folder for questions about product texts; default: <store>.chroma.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="The answer as JSON: text, query, products, citations.")]
NoLLMOpt = Annotated[bool, typer.Option("--no-llm", help="Never load the model (questions with no cue word are lists).")]


def open_session(store: Path, index_dir: Path | None, llm: str, model: str | None, llm_kind: str,
                 no_cache: bool, no_llm: bool, llm_timeout: float, api_key: str | None) -> "Session":
    from shelfgraph.retrieval.index import text_search
    from shelfgraph.api import Graph

    config = llm_config(llm, model, llm_kind, no_cache, llm_timeout, api_key)  # type: ignore[arg-type]
    try:
        return Graph(store, read_only=True).session(llm=None if no_llm else config,
                                                    texts=text_search(store, index_dir))
    except FileNotFoundError as error:
        raise InputError(str(error)) from error


def _print(answer, as_json: bool) -> None:
    from shelfgraph.terminal import safe_text

    if answer.notice:
        typer.echo(f"note: {safe_text(answer.notice)}", err=True)
    typer.echo(answer.model_dump_json(indent=2) if as_json else safe_text(answer.text, multiline=True))


def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain language.")],
    store: StoreOpt = Path("graph.db"),
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
    no_llm: NoLLMOpt = False,
    llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto", no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Answer one question from the graph, citing the facts (ids and text spans) behind it."""
    with open_session(store, index_dir, llm, model, llm_kind, no_cache, no_llm, llm_timeout, api_key) as session:
        _print(session.ask(question), as_json)


def chat(
    store: StoreOpt = Path("graph.db"),
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
    no_llm: NoLLMOpt = False,
    llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto", no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """A conversation: one question per line on stdin, follow-ups build on earlier answers
    ("and which of those are whole bean?"). Ends at end of input or "exit"; "reset" forgets."""
    interactive = sys.stdin.isatty()
    with open_session(store, index_dir, llm, model, llm_kind, no_cache, no_llm, llm_timeout, api_key) as session:
        while True:
            if interactive:
                typer.echo("> ", nl=False)
            line = sys.stdin.readline()
            if not line:
                break
            question = line.strip()
            if not question:
                continue
            if question.lower() in ("exit", "quit"):
                break
            if question.lower() == "reset":
                session.reset()
                typer.echo("(conversation reset)")
                continue
            _print(session.ask(question), as_json)
            typer.echo("")


def eval_questions(
    store: StoreOpt = Path("graph.db"),
    questions: Annotated[Optional[Path], typer.Option(
        help="JSONL: {question, expected: [product ids], history: [earlier questions]} per line.")] = None,
    generate: Annotated[Optional[int], typer.Option(
        min=1, help="Instead of --questions: make N questions from the store's gold facts.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --generate.")] = 0,
    write: Annotated[Optional[Path], typer.Option(help="Write the questions used to this JSONL file.")] = None,
    index_dir: IndexOpt = None,
    no_llm: NoLLMOpt = False,
    llm: LLMOpt = "local", model: ModelOpt = None, llm_kind: LLMKindOpt = "auto", no_cache: NoCacheOpt = False,
    llm_timeout: LLMTimeoutOpt = LLM_TIMEOUT_S, api_key: ApiKeyOpt = None,
) -> None:
    """Score answers by the products they name against expected product sets: one JSON line
    per question, then precision/recall/F1 (micro over products) as one JSON object on the last line."""
    from shelfgraph.eval.questions import answer_question, read_questions, summarise, write_questions
    from shelfgraph.eval.questions import generate as make_questions

    if (questions is None) == (generate is None):
        raise UsageError("give exactly one of --questions FILE or --generate N")
    with open_session(store, index_dir, llm, model, llm_kind, no_cache, no_llm, llm_timeout, api_key) as session:
        try:
            items = read_questions(questions) if questions else make_questions(session.graph, generate, seed)  # type: ignore[arg-type]
        except ValueError as error:  # a bad line, named with its file and number
            raise InputError(str(error)) from error
        if write:
            write_questions(items, write)
        scores, answers = [], []
        for item in items:
            answer, result = answer_question(session, item)
            scores.append(result)
            answers.append(answer)
            typer.echo(json.dumps({"id": item.id, "question": item.question, "kind": answer.kind,
                                   "query": answer.query.describe() if answer.query else None,
                                   **{k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}},
                                  ensure_ascii=False))
    typer.echo(json.dumps(summarise(scores, answers)))


def register(app: typer.Typer) -> None:
    from ._eval_app import eval_app

    app.command("ask")(ask)
    app.command("chat")(chat)
    eval_app.command("questions")(eval_questions)
