"""One writing process per store: `build` and `ingest` hold `<store>.lock` while they run.

SQLite serialises single transactions, but a build is many: two builds on one graph would
interleave their runs and step work, each undoing what the other just recorded. The lock is
an `flock` on a file beside the store, so the system drops it when its process dies, however
it dies: no stale lock to clean up by hand. A second writer is refused at once, not queued,
since a build can take hours and silent waiting looks like a hang.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from .errors import StoreError


def lock_path(store: Path) -> Path:
    """`graph.db` -> `graph.db.lock`."""
    return store.with_name(store.name + ".lock")


def acquire(store: Path) -> IO[str]:
    """Take the store's writer lock (held until the returned handle is closed), or raise
    StoreError naming the process that holds it."""
    import fcntl

    path = lock_path(store)
    try:
        handle = path.open("a+", encoding="utf-8")
    except OSError as err:
        raise StoreError(f"cannot write to {store}: {err.strerror} ({path}); "
                         "read it with `stats`, `show`, `export` or `ask`, or copy it somewhere writable") from err
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StoreError(f"another shelfgraph process (pid {holder}) is writing to {store}; "
                         "wait for it to finish or use another store") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
