"""Catalogue files read by Ray Data, for `build --engine ray`: from any path fsspec understands
(a local path, `file://`, `s3://`, `gs://`, `memory://`; a folder or a glob of files), parsed
and checked on the workers with the same row code as `ingest`, stored by the driver.

Ray's readers: `read_text` for JSONL (every line kept, so a row's index is its line),
`read_csv` (every column read as text, as the csv module gives it; rows Arrow's parser cannot
take are written by the worker to a rejects folder and reported), `read_parquet`. Each file is
one dataset read in order, so the driver knows each row's line; a bad row is a `RejectedRow`
naming the file and line, and the rest of the batch goes on.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from .errors import InputError
from .extras import require
from .ingest import (_PRODUCT_READERS, CATALOGUE_SUFFIXES, BatchIds, FirstSeen, Format, IngestReport, RejectedRow,
                     converted_row, detect_format, first_seen, ingest_paths, ingest_products, json_row)
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
                 run_id: str, seen: BatchIds, shared: str | None) -> list[IngestReport]:
    """What `ingest_paths` does for a build's batch, the catalogue read through Ray Data:
    taxonomy, catalogue, then reviews (which need their products). `shared`: a folder every
    worker can write to (the build's `shards`), for CSV rows Arrow rejects; None: a local one."""
    require("ray", "--engine ray")
    reports = ingest_paths(ledger, [taxonomy] if taxonomy else [], run_id, seen)
    with tempfile.TemporaryDirectory(prefix="shelfgraph-rejects-") as local:
        reports += ingest_with_ray(ledger, catalog, run_id, seen, f"{shared.rstrip('/')}/rejected" if shared else local)
    return reports + ingest_paths(ledger, list(reviews), run_id, seen)


def ingest_with_ray(ledger: Ledger, paths: Iterable[str | Path], run_id: str, seen: FirstSeen,
                    rejects: str) -> list[IngestReport]:
    """Ingest catalogue files through Ray Data, one report per file, like `ingest_paths`.
    `rejects`: a folder (fsspec URL) every worker can write to, for CSV rows Arrow rejects."""
    files = catalogue_files(paths)
    reports = []
    with ledger.bulk_load() if ledger.is_empty() else nullcontext():
        for url in files:
            fmt = _format(url)
            if fmt not in _PRODUCT_READERS:
                raise InputError(f"{url}: {fmt} is not a catalogue; give it with --taxonomy or --reviews")
            report = IngestReport(file=url, format=fmt)
            ingest_products(ledger, _products(url, fmt, seen, rejects), run_id, report)
            reports.append(report)
    return reports


def _products(url: str, fmt: Format, seen: FirstSeen, rejects: str) -> Iterator[Product | RejectedRow]:
    """The file's rows as products or rejections, in order; duplicates checked here, on the driver."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    dataset, first_line = _dataset(url, fmt, rejects)
    rows = dataset.map_batches(_convert, fn_kwargs={"fmt": fmt, "file": url}, batch_format="pyarrow",
                               batch_size=512)
    name = url.rsplit("/", 1)[-1]
    for index, row in enumerate(rows.iter_rows()):
        number = first_line + index
        if row["reason"]:
            yield RejectedRow(file=url, line=number, reason=row["reason"], raw=row["raw"])
        elif row["product"]:
            product = Product.model_validate_json(row["product"])
            placed = first_seen(product, url, name, number, seen, lambda: row["raw"])
            if placed is not None:
                yield placed
    yield from _rejected_by_parser(rejects, url)


def _dataset(url: str, fmt: Format, rejects: str) -> tuple[Any, int]:
    """A Ray dataset of the file's rows, and the line of its first row."""
    import fsspec
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import ray

    fs, inner = fsspec.core.url_to_fs(url)
    arrow_fs = pa.fs.PyFileSystem(pa.fs.FSSpecHandler(fs))
    if fmt == "catalog-parquet":
        return ray.data.read_parquet(inner, filesystem=arrow_fs), 1
    if fmt != "catalog-csv":
        return ray.data.read_text(inner, filesystem=arrow_fs, drop_empty_lines=False), 1
    with fs.open(inner, "r", encoding="utf-8-sig") as handle:
        import csv

        header = next(csv.reader([handle.readline()]), [])
    parse = pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=_ParserRejects(rejects, url))
    convert = pcsv.ConvertOptions(column_types={name: pa.string() for name in header}, strings_can_be_null=False)
    return ray.data.read_csv(inner, filesystem=arrow_fs, parse_options=parse, convert_options=convert), 2


class _ParserRejects:
    """Arrow's handler for CSV rows it cannot parse: runs in the worker, writes the row to the
    rejects folder for the driver, and skips it."""

    def __init__(self, folder: str, file: str):
        self.folder, self.file = folder.rstrip("/"), file

    def __call__(self, row: Any) -> str:
        import fsspec

        rejected = RejectedRow(file=self.file, line=row.number, reason=f"bad CSV: {row.expected_columns} fields "
                               f"expected, {row.actual_columns} found", raw=(row.text or "")[:500])
        with fsspec.open(f"{self.folder}/{uuid.uuid4().hex}.json", "w", auto_mkdir=True) as handle:
            handle.write(rejected.model_dump_json())
        return "skip"


def _rejected_by_parser(folder: str, url: str) -> Iterator[RejectedRow]:
    import fsspec

    fs, inner = fsspec.core.url_to_fs(folder)
    for path in sorted(fs.glob(f"{inner.rstrip('/')}/*.json")):
        rejected = RejectedRow.model_validate_json(fs.cat_file(path))
        if rejected.file == url:
            fs.rm(path)
            yield rejected


def _convert(batch: Any, fmt: Format, file: str) -> dict[str, list[str]]:
    """On a worker: each row as a product's JSON or the reason it is rejected (blank lines:
    neither)."""
    convert = _PRODUCT_READERS[fmt]
    out: dict[str, list[str]] = {"product": [], "reason": [], "raw": []}
    for record in batch.to_pylist():
        item: Product | RejectedRow | tuple[int, Any] | None
        if fmt in ("catalog-csv", "catalog-parquet"):
            item = converted_row(file, 0, record, convert)
        else:
            text = record["text"]
            item = json_row(file, 0, text) if text.strip() else None
            if isinstance(item, tuple):
                item = converted_row(file, 0, item[1], convert)
        raw = json.dumps(record, default=str)[:500] if fmt in ("catalog-csv", "catalog-parquet") else text[:500]
        out["product"].append(item.model_dump_json() if isinstance(item, Product) else "")
        out["reason"].append(item.reason if isinstance(item, RejectedRow) else "")
        out["raw"].append(raw)
    return out
