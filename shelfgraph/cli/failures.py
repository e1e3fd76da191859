"""How a command ends when it fails: one line `error: ...` on stderr and the exit status of the
failure's kind (docs/exit-status.md); the traceback only with `--debug`.

Expected failures raise `ShelfgraphError`s. A few foreign exceptions are just as expected and
are translated here: a file that cannot be read or written (`OSError`), a SQLite store that
cannot be used, a model server's client errors. Anything else is a bug, and said to be one.
"""

from __future__ import annotations

import errno
import sqlite3
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from ..errors import INTERRUPTED_EXIT, InputError, ModelError, ShelfgraphError, StoreError

# click's signals pass through: usage errors (status 2), deliberate exits and aborts. Recent
# typer vendors click, so its classes are found through typer's own.
CLICK_SIGNALS = (typer.Exit, typer.Abort, next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"))
MAX_LINE = 1000  # characters of the one error line; a model's validation errors can run long
OS_HINTS = {
    errno.ENOENT: "no such file or folder; check the path",
    errno.EACCES: "permission denied; check its permissions or use another path",
    errno.EPERM: "operation not permitted; check its permissions or use another path",
    errno.ENOSPC: "no space left on the device; free some space and run again (what was already stored is kept)",
    errno.EDQUOT: "disk quota exceeded; free some space and run again (what was already stored is kept)",
    errno.EROFS: "read-only file system; use a path on a writable disk",
    errno.EISDIR: "is a folder, not a file; give a file",
    errno.ENOTDIR: "a part of the path is not a folder; check the path",
    errno.EEXIST: "already exists, where a folder was to be made; check the path",
}
# SQLite's messages (they name no file) -> what to do about the store
SQLITE_HINTS = (
    ("database or disk is full", "the disk holding the store is full; free some space and run again "
                                 "(what was already stored is kept)"),
    ("unable to open database file", "cannot open the store; check that its folder exists and is writable"),
    ("readonly database", "the store is read-only; check the permissions of the file and its folder"),
    ("database is locked", "the store is busy in another process; run again when that one is done"),
    ("not a database", "the store is not a SQLite database; check --store"),
    ("malformed", "the store is corrupt; restore it from a backup or build a new one"),
    ("disk i/o error", "the disk failed reading or writing the store; check the disk and run again"),
)


def expected(error: BaseException) -> ShelfgraphError | None:
    """`error` as the expected failure it is, or None for a bug."""
    if isinstance(error, ShelfgraphError):
        return error
    if isinstance(error, sqlite3.Error):
        text = str(error)
        hint = next((h for cue, h in SQLITE_HINTS if cue in text.lower()), None)
        return StoreError(f"{text}: {hint}") if hint else None
    if isinstance(error, OSError) and error.errno in OS_HINTS:
        names = [str(n) for n in (error.filename, error.filename2) if n is not None]
        return InputError(f"{' -> '.join(names) + ': ' if names else ''}{OS_HINTS[error.errno]}")
    if type(error).__module__.split(".")[0] == "openai":  # a model server's client, unwrapped
        url = getattr(getattr(error, "request", None), "url", None)
        return ModelError(f"the model server{f' at {url}' if url else ''} failed: {type(error).__name__}: "
                          f"{error}; check that it is running and serves the model (--llm, --model)")
    return None


def one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


class ShelfgraphGroup(TyperGroup):
    """The root command: runs a subcommand and turns its failure into one line and a status."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CLICK_SIGNALS:
            raise
        except KeyboardInterrupt:
            typer.echo("error: interrupted; run the same command again to resume", err=True)
            ctx.exit(INTERRUPTED_EXIT)
        except Exception as error:
            if isinstance(error, OSError) and error.errno == errno.EPIPE:
                raise  # output piped into e.g. `head`: click ends quietly
            if ctx.params.get("debug"):
                traceback.print_exception(error)
            failure = expected(error)
            if failure is None:
                message = f"internal error: {type(error).__name__}: {error}"
                typer.echo(f"error: {one_line(message)} (run with --debug for the traceback)", err=True)
                ctx.exit(1)
            typer.echo(f"error: {one_line(str(failure))}", err=True)
            ctx.exit(failure.exit_code)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"shelfgraph {__version__}")
        raise typer.Exit()


def root(debug: bool = typer.Option(False, "--debug", envvar="SHELFGRAPH_DEBUG",
                                    help="On a failure, also print the traceback."),
         version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                      help="Print the version and exit.")) -> None:
    """Options of `shelfgraph` itself, before the command; `ShelfgraphGroup` reads them."""


def register(app: typer.Typer) -> None:
    """The root group and its options are set in `cli/__init__.py`: this module adds no command."""
