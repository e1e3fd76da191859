"""Expected failures, each with the exit status the CLI ends with (docs/exit-status.md).

Code anywhere in shelfgraph raises these for failures a person can act on (a missing file, a
store in use, a model server down); the CLI prints the message as one line and exits with the
class's status. Anything else is a bug: a traceback, shown only with `--debug`.
"""

from __future__ import annotations


class ShelfgraphError(Exception):
    """A failure a person can act on. The message names the thing and what to do."""

    exit_code = 1


class UsageError(ShelfgraphError):
    """A bad option, argument or config value (the same status as click's usage errors)."""

    exit_code = 2


class InputError(ShelfgraphError):
    """A whole input file is missing, unreadable or malformed (bad rows alone exit 3)."""

    exit_code = 4


class StoreError(ShelfgraphError):
    """The graph's store cannot be used: corrupt, newer schema, locked, read-only, disk full."""

    exit_code = 5


class ModelError(ShelfgraphError):
    """The model server is unreachable, refuses the key or keeps failing."""

    exit_code = 6


REJECTED_ROWS_EXIT = 3  # some input rows were rejected; the rest were stored
INTERRUPTED_EXIT = 130  # Ctrl-C: the run is marked failed; running again resumes
