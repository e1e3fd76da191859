"""`shelfgraph review`: a terminal queue of the facts most worth a person's look, one key per decision."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from ..review import Review, ReviewItem

KEYS = "[a]ccept  [r]eject  [c]orrect  [s]kip  [q]uit"


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no $USER (a bare container)
        return "unknown"


def _read_key() -> str:
    """One key: read raw at a terminal; from piped input (scripts, tests), the first character
    of the next line. End of input quits."""
    if sys.stdin.isatty():
        return typer.getchar().lower()
    line = sys.stdin.readline()
    return line.strip()[:1].lower() if line else "q"


def _read_value() -> str:
    if sys.stdin.isatty():
        return typer.prompt("correct value")
    typer.echo("correct value: ", nl=False)
    value = sys.stdin.readline().strip()
    typer.echo(value)
    return value


def _show(item: "ReviewItem", number: int, total: int) -> None:
    from rich.console import Console

    from ..terminal import evidence_markup, safe_markup

    p = item.fact.provenance
    console = Console()
    console.print(f"\n[bold]{number}/{total}[/] {item.why.replace('_', ' ')} ({safe_markup(item.detail)})\n"
                  f"[bold]{safe_markup(item.product.id)}[/] {safe_markup(item.product.title)}\n"
                  f"  {safe_markup(item.attribute)} = [bold]{safe_markup(item.fact.object)}[/]  "
                  f"status {item.fact.status}, confidence "
                  f"{'-' if item.fact.confidence is None else f'{item.fact.confidence:.2f}'}, "
                  f"{safe_markup(p.step)}/{safe_markup(p.method)}\n"
                  f"  evidence: {evidence_markup(item.product, p.source_field, p.start, p.end) or '-'}")


def review(
    store: Annotated[Path, typer.Option("--store", "-s", help="The graph's SQLite file.")] = Path("graph.db"),
    who: Annotated[Optional[str], typer.Option(help="Who decides, kept with every decision; default: the OS user.")] = None,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Facts less confident than this are queued.")] = 0.5,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most this many facts.")] = None,
    export: Annotated[Optional[Path], typer.Option(
        help="Instead of reviewing: write the reviewed products as labelled OA-Mine lines (the catalogue's "
             "values and those accepted or corrected), for eval, tune and build --labelled.")] = None,
) -> None:
    """Review the facts most worth a look: flagged by cleaning, conflicting with another value,
    or of low confidence. One key each: a accept, r reject, c correct (then type the value),
    s skip, q quit. Decisions are status changes kept with who and when; nothing is deleted."""
    from ..api import Graph
    from ..errors import InputError
    from ..review import Review, export_labelled, review_queue

    if not store.exists():
        raise InputError(f"{store} does not exist; build a graph first (`shelfgraph build ... --store {store}`)")
    with Graph(store) as graph:
        if export is not None:
            count = export_labelled(graph.ledger, export)
            typer.echo(f"{count} reviewed products written to {export}")
            return
        queue = review_queue(graph.ledger, threshold=threshold, limit=limit)
        if not queue:
            typer.echo("nothing to review: no unreviewed fact is flagged, conflicting or below the threshold")
            return
        session = Review(graph.ledger, who or _os_user())
        try:
            _decide_all(session, queue)
        finally:
            run = session.finish()
    counts = ", ".join(f"{name} {n}" for name, n in run.summary.items())
    typer.echo(f"\n{counts} (review run {run.id}); `shelfgraph review --export FILE` writes them as labels")


def _decide_all(session: "Review", queue: list["ReviewItem"]) -> None:
    for number, item in enumerate(queue, start=1):
        _show(item, number, len(queue))
        while True:
            typer.echo(KEYS + " > ", nl=False)
            key = _read_key()
            typer.echo(key)
            if key == "a":
                session.accept(item)
            elif key == "r":
                session.reject(item)
            elif key == "c":
                value = _read_value()
                if not value:
                    typer.echo("no value given; choose again")
                    continue
                session.correct(item, value)
            elif key == "q":
                return
            elif key != "s":
                continue
            break


def register(app: typer.Typer) -> None:
    app.command()(review)
