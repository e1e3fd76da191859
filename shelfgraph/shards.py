"""Facts as columns in Parquet shards: how Ray workers hand their facts to the driver.

A worker turns the facts of its batch into one Arrow table, each fact's key hashed there
(`models.fact_key`, the key `add_facts` would give it), and writes it as a Parquet file into
the run's shard folder, any path fsspec understands (a local folder; `s3://` or `gs://` where
the workers run on other machines). The driver reads a shard back as columns and merges it
with `Ledger.merge_fact_columns`: no pydantic object per fact and no hashing on the driver.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .models import Fact, fact_key

# The columns of a shard, as `Ledger.merge_fact_columns` takes them.
FACT_COLUMNS = ("key", "subject", "predicate", "object", "confidence", "status", "step", "method", "model",
                "prompt", "source_field", "start", "end", "run_id")


def fact_columns(facts: Iterable[Fact]) -> dict[str, list[Any]]:
    """The facts as one list per column, keys hashed."""
    columns: dict[str, list[Any]] = {name: [] for name in FACT_COLUMNS}
    for fact in facts:
        p = fact.provenance
        row = (fact.subject, fact.predicate, fact.object, fact.confidence, fact.status, p.step, p.method, p.model,
               p.prompt, p.source_field, p.start, p.end, p.run_id)
        columns["key"].append(fact_key(fact.subject, fact.predicate, fact.object, p.step, p.method, p.model,
                                       p.prompt, p.source_field, p.start, p.end))
        for name, value in zip(FACT_COLUMNS[1:], row):
            columns[name].append(value)
    return columns


def _schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([("key", pa.binary(16)), ("subject", text), ("predicate", text), ("object", text),
                      ("confidence", pa.float64()), ("status", text), ("step", text), ("method", text),
                      ("model", text), ("prompt", text), ("source_field", text), ("start", pa.int64()),
                      ("end", pa.int64()), ("run_id", text)])


def fact_table(facts: Iterable[Fact]) -> Any:
    """The facts as an Arrow table of `FACT_COLUMNS`, what `Ledger.merge_fact_columns` takes."""
    return fact_table_of(fact_columns(facts))


def fact_table_of(columns: dict[str, list[Any]]) -> Any:
    """The columns of `fact_columns` as an Arrow table."""
    import pyarrow as pa

    return pa.Table.from_pydict(columns, schema=_schema())


def write_shard(table: Any, path: str) -> str:
    """Write one shard (a `fact_table`) to `path`, any fsspec URL; returns the path."""
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(path, "wb", auto_mkdir=True) as handle:
        pq.write_table(table, handle)
    return path


def read_shard(path: str) -> Any:
    """A shard as the Arrow table it was written from."""
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as handle:
        return pq.read_table(handle)


def remove_shard(path: str) -> None:
    """Drop a shard once its facts are committed (a shard left by a killed build is only
    clutter: the resumed build redoes its units)."""
    import fsspec

    fs, inner = fsspec.core.url_to_fs(path)
    fs.rm(inner)
