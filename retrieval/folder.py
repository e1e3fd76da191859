"""Where a `CatalogIndex` keeps its records: a Chroma folder shared by processes in turn, or a
Chroma server.

Chroma's embedded client keeps its vector index in memory and writes it back now and then;
two processes writing one folder overwrite each other's index files, and records go missing
from queries (3,000 added by two processes at once, 2,900-2,950 found afterwards). So every
operation on a folder holds an exclusive lock on `<folder>.lock`, which also counts the
changes made to the folder: a process whose client has missed a change reopens it before
going on. One process alone never reopens. A Chroma server (`--chroma-url`) serves many
writers at once without any of this.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


class ChromaFolder:
    """One per folder and process (`ChromaFolder.of(path)`): its client and its lock."""

    _open: ClassVar[dict[Path, "ChromaFolder"]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, connect: Callable[[Path], "ClientAPI"]):
        self.path = path
        self._connect = connect
        self._client: "ClientAPI | None" = None
        self._seen = -1  # the folder's change count when our client last was up to date
        self._changed = False
        self._depth = 0
        self._mutex = threading.RLock()  # threads of this process take turns too
        self._lock_file = open(path.with_name(path.name + ".lock"), "a+")  # open for the life of the process

    @classmethod
    def of(cls, path: Path, connect: Callable[[Path], "ClientAPI"]) -> "ChromaFolder":
        path = path.resolve()
        with cls._registry_lock:
            if path not in cls._open:
                cls._open[path] = cls(path, connect)
            return cls._open[path]

    @contextmanager
    def session(self) -> Iterator["ClientAPI"]:
        """The client, up to date and this process's alone until the block ends (re-entrant)."""
        with self._mutex:
            outermost = self._depth == 0
            if outermost:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            self._depth += 1
            try:
                if outermost:
                    changes = self._changes()
                    if self._client is None or changes != self._seen:
                        self._reopen()
                    self._seen = changes
                yield self._client  # type: ignore[misc]
            finally:
                self._depth -= 1
                if outermost:
                    if self._changed:
                        self._seen = self._write_changes(self._seen + 1)
                        self._changed = False
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def changed(self) -> None:
        """Called inside a session that added or deleted records: other processes reopen."""
        self._changed = True

    def _reopen(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = self._connect(self.path)

    def _changes(self) -> int:
        self._lock_file.seek(0)
        text = self._lock_file.read().strip()
        return int(text) if text.isdigit() else 0

    def _write_changes(self, count: int) -> int:
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(str(count))
        self._lock_file.flush()
        return count


class ChromaServer:
    """A Chroma server's client: the server orders concurrent writes itself."""

    def __init__(self, client: "ClientAPI"):
        self._client = client

    @contextmanager
    def session(self) -> Iterator["ClientAPI"]:
        yield self._client

    def changed(self) -> None:
        """Nothing to tell: every client of the server sees every change."""
