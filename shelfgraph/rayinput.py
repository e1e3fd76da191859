"""Catalogue files read by Ray Data, for `build --engine ray`: from any path fsspec understands
(a local path, `file://`, `s3://`, `gs://`; a folder or a glob of files), parsed and checked
on the workers with the same row code as `ingest`, stored by the driver. (Not `memory://`: each
Ray worker is its own process, with its own memory file system.)

Ray's readers: `read_parquet`, and for JSONL and CSV a Ray Data datasource around `ingest`'s
own row readers (Arrow's JSON and CSV parsers behind `read_json` and `read_csv` know no line
numbers and fail a whole file on one bad row). Each file is one dataset read in order; a bad
row is a `RejectedRow` naming the file and line, worded as `ingest` words it, and the rest of
the batch goes on.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from .errors import InputError
from .extras import require
from .ingest import (CATALOGUE_SUFFIXES, PRODUCT_READERS, BatchIds, FirstSeen, Format, IngestReport, RejectedRow,
                     converted_row, csv_rows, detect_format, first_seen, ingest_paths, ingest_products, json_rows)
from .models import Product
from .store import Ledger


def as_url(given: str | Path) -> str:
    """A path as given on the command line, as fsspec reads it. `Path` folds `s3://b/k` into
    `s3:/b/k` and `file:///x` into `file:/x`: both are put back."""
    text = str(given)
    found = re.match(r"^([A-Za-z][\w+.-]+):/+(.*)$", text)
    if found is None:
        return text
    scheme, rest = found.groups()
    return "/" + rest if scheme == "file" else f"{scheme}://{rest}"


def catalogue_files(paths: Iterable[str | Path]) -> list[str]:
    """Every file to read, as URLs: a file as it is, a folder as its catalogue files (hidden
    ones skipped), a glob as the files it matches, each in name order. A path that names
    nothing is an InputError."""
    import fsspec

    files: list[str] = []
    for given in paths:
        url = as_url(given)
        fs, inner = fsspec.core.url_to_fs(url)
        if any(c in url for c in "*?["):
            found = sorted(p for p in fs.glob(inner) if fs.isfile(p))
        elif fs.isdir(inner):
            found = sorted(p for p in fs.find(inner) if p.lower().endswith(CATALOGUE_SUFFIXES)
                           and not any(part.startswith(".") for part in p[len(inner.rstrip("/")) + 1:].split("/")))
        else:
            found = [inner] if fs.exists(inner) else []
        if not found:
            raise InputError(f"{given}: no catalogue file there")
        files += [fs.unstrip_protocol(p) for p in found]
    return files


def _format(url: str) -> Format:
    """The catalogue format of a file: sniffed as `ingest` does where it is local, else by suffix."""
    if url.startswith("file://"):
        return detect_format(Path(url.removeprefix("file://")))
    suffix = url.rsplit(".", 1)[-1].lower()
    return {"csv": "catalog-csv", "parquet": "catalog-parquet"}.get(suffix, "catalog-jsonl")


def ingest_batch(ledger: Ledger, taxonomy: Path | None, catalog: Iterable[str | Path], reviews: Iterable[Path],
                 run_id: str, seen: BatchIds) -> list[IngestReport]:
    """What `ingest_paths` does for a build's batch, the catalogue read through Ray Data:
    taxonomy, catalogue, then reviews (which need their products)."""
    require("ray", "--engine ray")
    return (ingest_paths(ledger, [taxonomy] if taxonomy else [], run_id, seen)
            + ingest_with_ray(ledger, catalog, run_id, seen) + ingest_paths(ledger, list(reviews), run_id, seen))


def ingest_with_ray(ledger: Ledger, paths: Iterable[str | Path], run_id: str, seen: FirstSeen) -> list[IngestReport]:
    """Ingest catalogue files through Ray Data, one report per file, like `ingest_paths`."""
    require("ray", "--engine ray")
    files = catalogue_files(paths)
    reports = []
    with ledger.bulk_load() if ledger.is_empty() else nullcontext():
        for url in files:
            fmt = _format(url)
            if fmt not in PRODUCT_READERS:
                raise InputError(f"{url}: {fmt} is not a catalogue; give it with --taxonomy or --reviews")
            report = IngestReport(file=url, format=fmt)
            ingest_products(ledger, _products(url, fmt, seen), run_id, report)
            reports.append(report)
    return reports


def _products(url: str, fmt: Format, seen: FirstSeen) -> Iterator[Product | RejectedRow]:
    """The file's rows as products or rejections, in order; duplicates checked here, on the
    driver. A row's line: the one its reader gave, else (Parquet) its place in the file."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    rows = _dataset(url, fmt).map_batches(_convert, fn_kwargs={"fmt": fmt, "file": url}, batch_format="pyarrow",
                                          batch_size=512)
    name = url.rsplit("/", 1)[-1]
    for index, row in enumerate(rows.iter_rows()):
        number = row["line"] or index + 1
        if row["reason"]:
            yield RejectedRow(file=url, line=number, reason=row["reason"], raw=row["raw"])
        elif row["product"]:
            product = Product.model_validate_json(row["product"])
            placed = first_seen(product, url, name, number, seen, lambda: row["raw"])
            if placed is not None:
                yield placed


def _dataset(url: str, fmt: Format) -> Any:
    """A Ray dataset of the file's rows, in order; JSONL and CSV rows carry their line."""
    import fsspec
    import pyarrow as pa
    import ray

    fs, inner = fsspec.core.url_to_fs(url)
    arrow_fs = pa.fs.PyFileSystem(pa.fs.FSSpecHandler(fs))
    if fmt == "catalog-parquet":
        return ray.data.read_parquet(inner, filesystem=arrow_fs)
    return ray.data.read_datasource(_lines_datasource(inner, arrow_fs, csv_rows if fmt == "catalog-csv"
                                                      else json_rows))


def _lines_datasource(path: str, filesystem: Any, read_rows: Callable[..., Iterator[Any]]) -> Any:
    """A Ray Data reader running `ingest`'s own row reader of a text format (`json_rows`,
    `csv_rows`) on the stream of the file: the rows carry the line they start on and the
    rejections (not UTF-8, bad JSON, bad CSV) read as `ingest` words them. Ray's `read_json`
    and `read_csv` (Arrow's parsers) know no line numbers, and fail a whole file on one bad
    row."""
    import pyarrow as pa
    from ray.data.datasource import FileBasedDatasource

    class Rows(FileBasedDatasource):
        def _read_stream(self, f: Any, path: str) -> Iterator[Any]:
            rows: list[dict[str, Any]] = []
            for item in read_rows(Path(path), opened=io.BufferedReader(_Stream(f), 1 << 16)):
                if isinstance(item, RejectedRow):
                    rows.append({"line": item.line, "record": "", "reason": item.reason, "raw": item.raw})
                else:
                    rows.append({"line": item[0], "record": json.dumps(item[1]), "reason": "", "raw": ""})
                if len(rows) == 1024:
                    yield pa.Table.from_pylist(rows)
                    rows = []
            if rows:
                yield pa.Table.from_pylist(rows)

    return Rows(path, filesystem=filesystem)


class _Stream(io.RawIOBase):
    """An Arrow input stream (which reads no lines) as a raw file for Python's buffered reader."""

    def __init__(self, stream: Any):
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _convert(batch: Any, fmt: Format, file: str) -> dict[str, list[Any]]:
    """On a worker: each row as a product's JSON or the reason it is rejected, with its line
    where the reader gave one (0: a Parquet row, numbered by the driver)."""
    convert = PRODUCT_READERS[fmt]
    out: dict[str, list[Any]] = {"line": [], "product": [], "reason": [], "raw": []}
    for row in batch.to_pylist():
        item: Product | RejectedRow
        if fmt == "catalog-parquet":
            line, raw = 0, json.dumps(row, default=str)[:500]
            item = converted_row(file, line, row, convert)
        else:
            line, raw = row["line"], row["raw"] or row["record"][:500]
            item = (converted_row(file, line, json.loads(row["record"]), convert) if row["record"] else
                    RejectedRow(file=file, line=line, reason=row["reason"], raw=row["raw"]))
        out["line"].append(line)
        out["product"].append(item.model_dump_json() if isinstance(item, Product) else "")
        out["reason"].append(item.reason if isinstance(item, RejectedRow) else "")
        out["raw"].append(raw)
    return out
