"""`build --engine ray` reads the catalogue through Ray Data's readers from any path fsspec
understands: the ledger gets what `ingest` stores from the same files, bad rows included."""

from __future__ import annotations

import csv
import json

import pytest

from shelfgraph.ingest import BatchIds, ingest_paths
from shelfgraph.rayinput import as_url, ingest_with_ray
from shelfgraph.store import Ledger

pytest.importorskip("ray", reason="ray is not installed: pip install 'shelfgraph[ray]'")


@pytest.fixture(scope="module")
def ray_local():
    import ray

    started = not ray.is_initialized()  # an earlier in-process `--engine ray` build leaves its Ray up
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def _catalogue(folder, demo_data):
    """A JSONL file with a bad line (line 3), a blank one and one not UTF-8 (line 5), a CSV with
    a bad row and one spanning two lines, and a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    lines = (demo_data / "catalog.jsonl").read_text().splitlines()
    (folder / "a.jsonl").write_bytes("\n".join(lines[:2] + ['{"id": "x", "title": '] + [""]).encode()
                                     + b"\n\xff\xfe\n" + "\n".join(lines[2:6]).encode() + b"\n")
    with (folder / "b.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "Brand"])
        writer.writerow(["c1", "Acme Stapler, black", "Acme"])
        writer.writerow(["c2", "", "NoTitle"])  # line 3: missing title
        writer.writerow(["c3", "Zed Pencil\nwith a second line", "Zed"])  # lines 4-5
        writer.writerow(["c4", "Too", "many", "fields"])  # line 6
        writer.writerow(["c5", "Five Pens", "Acme"])
    records = [json.loads(line) for line in lines[6:9]]
    pq.write_table(pa.Table.from_pylist([{"id": r["id"], "title": r["title"]} for r in records]), folder / "c.parquet")
    return folder


def _ingested(store, ingest) -> tuple[list[tuple], list[tuple]]:
    with Ledger(store) as ledger, BatchIds() as seen:
        reports = ingest(ledger, seen)
        products = sorted((p.id, p.title, p.product_type, json.dumps(p.attributes), p.source)
                          for p in ledger.products())
        facts = sorted(f.id for f in ledger.facts(status=None))
    rejected = sorted((r.file.rsplit("/", 1)[-1], r.line, r.reason) for report in reports for r in report.rejected)
    return products + facts, rejected


@pytest.mark.timeout(600)
def test_ray_readers_store_what_ingest_stores_from_a_path_a_file_url_and_a_glob(tmp_path, demo_data, ray_local):
    folder = _catalogue(tmp_path / "in", demo_data)
    files = [folder / "a.jsonl", folder / "b.csv", folder / "c.parquet"]
    expected = _ingested(tmp_path / "local.db", lambda ledger, seen: ingest_paths(ledger, files, "r", seen))
    assert expected[1] == [("a.jsonl", 3, "bad JSON: Expecting value at column 1"),
                           ("a.jsonl", 5, "not UTF-8 text (unknown encoding)"),
                           ("b.csv", 3, "missing title"), ("b.csv", 6, "more fields than the header names")]
    for name, paths in (("path", files), ("url", [f"file://{f}" for f in files]), ("glob", [f"{folder}/*"]),
                        ("folder", [folder])):
        got = _ingested(tmp_path / f"{name}.db", lambda ledger, seen: ingest_with_ray(
            ledger, paths, "r", seen))
        assert got == expected, name


def test_urls_survive_the_paths_the_command_line_makes_of_them():
    from pathlib import Path

    assert as_url(Path("s3://bucket/cat/part-0.jsonl")) == "s3://bucket/cat/part-0.jsonl"
    assert as_url(Path("file:///tmp/cat.jsonl")) == "/tmp/cat.jsonl"
    assert as_url(Path("/tmp/cat.jsonl")) == "/tmp/cat.jsonl"
