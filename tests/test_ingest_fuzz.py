"""Ingest never raises past the CLI, whatever a catalogue or review file holds.

Property: every row of any file is stored or rejected (file, line, a one-line reason); a file
that cannot be read as its format at all raises one `InputError`; nothing else ever escapes,
what was stored before stays as it was, and what is stored is well formed. Hypothesis draws
random bytes, JSON shapes, ragged CSV and odd Unicode (deterministically: `derandomize`);
each defect it found has a plain regression case at the end of this file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from shelfgraph.cli import app
from shelfgraph.errors import InputError
from shelfgraph.ingest import BatchIds, IngestReport, detect_format, ingest_paths
from shelfgraph.models import Product
from shelfgraph.store import Ledger

FUZZ = settings(derandomize=True, deadline=None, max_examples=100, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
CLI_FUZZ = settings(FUZZ, max_examples=20)
SEED = Product(id="seed:\u2693:1", title="Lavazza Qualita Rossa Ground Coffee", product_type="Coffee",
               attributes={"Brand": ["Lavazza"]})

# ---------------------------------------------------------------- strategies
NASTY = ["", " ", "\t", "n/a", "null", "\x00", "a\x00b", "\u202eevil", "e\u0301", "\u2028", "\ufeff",
         "\ud800", "x\udfff", "\U0001f600", "\u200b", "\x1c", '"', "a,b", "a\nb", "a\rb"]
texts = st.one_of(st.text(st.characters(exclude_categories=()), max_size=20), st.sampled_from(NASTY),
                  st.integers(1000, 5000).map(lambda n: "x" * n))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**64, max_value=2**300),
                    st.floats(), texts)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(texts, inner, max_size=4), max_leaves=12)


def _fields(keys: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict]:
    """Records whose known keys are each absent, plausible or of any JSON type, plus stray keys."""
    return st.tuples(st.fixed_dictionaries({}, optional={k: s | json_values for k, s in keys.items()}),
                     st.dictionaries(texts, json_values, max_size=2)).map(lambda t: {**t[1], **t[0]})


catalog_records = _fields({"id": texts | st.integers(), "title": texts, "description": texts,
                           "product_type": texts, "category": texts,
                           "attributes": st.dictionaries(texts, json_values, max_size=4),
                           "reviews": st.lists(st.fixed_dictionaries({"id": texts, "text": texts}), max_size=2)})
value_info = st.fixed_dictionaries({"pid": st.lists(st.integers(-1, 2) | json_values, max_size=3),
                                    "score": json_values})
value_scores = st.dictionaries(texts, st.integers(0, 1) | value_info | json_values, max_size=3)
targets = st.dictionaries(texts, value_scores | json_values, max_size=4)
oa_records = _fields({"input": texts, "category": texts, "target_scores": targets})
wdc_records = _fields({"id": st.integers() | texts, "input_title": texts, "input_description": texts,
                       "category": texts, "target_scores": targets})
review_records = _fields({"product_id": st.sampled_from([SEED.id, "", "nope"]) | texts, "text": texts,
                          "kind": st.sampled_from(["review", "qa", "Q&A"]) | texts, "id": texts})


def _dump(value: object, ascii_only: bool) -> bytes:
    """JSON text; without ascii_only a lone surrogate becomes bytes that are not UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


raw_lines = st.one_of(
    st.binary(max_size=60),
    st.integers(4300, 6000).map(lambda n: b'{"title": "x", "n": ' + b"7" * n + b"}"),  # huge number
    st.integers(1, 3000).map(lambda n: b'{"title": "x", "a": ' + b"[" * n + b"]" * n + b"}"),  # deep
    st.sampled_from([b'{"id": "cut", "title": ', b"NaN", b"# comment", b"12 - Food > Tea", b"", b"  "]),
)


def _jsonl(first: st.SearchStrategy[dict], rest: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    """A JSONL file: a first record that sets the format, then records, any JSON values and broken
    lines, blank lines and lines that are not UTF-8, ended by LF or CRLF."""
    line = st.tuples(rest | json_values, st.booleans()).map(lambda t: _dump(*t)) | raw_lines
    return st.tuples(st.tuples(first, st.booleans()).map(lambda t: _dump(*t)), st.lists(line, max_size=8),
                     st.sampled_from([b"\n", b"\r\n"])).map(lambda t: t[2].join([t[0], *t[1]]))


jsonl_catalogs = _jsonl(catalog_records, catalog_records)
oa_files = _jsonl(st.fixed_dictionaries({"input": texts, "category": texts, "target_scores": targets}), oa_records)
wdc_files = _jsonl(st.fixed_dictionaries({"input_title": texts, "category": texts, "target_scores": targets}),
                   wdc_records)
review_files = _jsonl(st.fixed_dictionaries({"product_id": st.just(SEED.id), "text": texts}), review_records)

HEADER_NAMES = ["id", "title", "description", "product_type", "category", "attributes", "Brand", "Color", "",
                " title", "Title"]
cells = st.one_of(texts, st.sampled_from(['"open', 'a"b', '""']),
                  st.integers(131_000, 140_000).map(lambda n: '"' + "x" * n))  # past csv's field limit


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """CSV with a catalogue header, rows of any length, quoted properly or not, any line end."""
    header = draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=5))
    if draw(st.booleans()):
        header.insert(draw(st.integers(0, len(header))), "title")
    rows = draw(st.lists(st.lists(cells, max_size=8), max_size=8))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    if draw(st.booleans()):
        out = io.StringIO()
        csv.writer(out, lineterminator=end).writerows([header, *rows])
        text = out.getvalue()
    else:
        text = end.join(",".join(row) for row in [header, *rows])
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode("utf-8", "surrogatepass")


def _parquet_bytes(table: pa.Table) -> bytes:
    out = pa.BufferOutputStream()
    pq.write_table(table, out)
    return out.getvalue().to_pybytes()


GOOD_PARQUET = _parquet_bytes(pa.table({"id": ["q1"], "title": ["Twinings Earl Grey"]}))
ODD_PARQUETS = [  # well-formed files whose columns have the wrong types for a catalogue
    _parquet_bytes(pa.table({"id": [{"a": 1}, None], "title": [1, 2], "category": [["Tea"], []]})),
    _parquet_bytes(pa.table({"title": ["Earl Grey", " "], "description": [b"\x80", None],
                             "attributes": pa.array([[("Brand", [1, 2])], [("", [3])]],
                                                    pa.map_(pa.string(), pa.list_(pa.int64())))})),
]


@st.composite
def damaged_parquet(draw: st.DrawFn) -> bytes:
    """A real Parquet file, whole, cut short or with bytes overwritten."""
    data = bytearray(draw(st.sampled_from([GOOD_PARQUET, *ODD_PARQUETS])))
    if draw(st.booleans()):
        return bytes(data)
    if draw(st.booleans()):
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


# ---------------------------------------------------------------- the property
def _ledger(tmp_path: Path) -> Ledger:
    """The test's ledger, with the seed product ingested first. A test's examples share it, so
    each fuzzed file also lands on what the ones before it stored."""
    if (tmp_path / "g.db").exists():
        return Ledger(tmp_path / "g.db")
    good = tmp_path / "good.jsonl"
    good.write_text(SEED.model_dump_json(exclude={"source", "reviews", "questions"}) + "\n")
    ledger = Ledger(tmp_path / "g.db")
    [report] = ingest_paths(ledger, [good], run_id="seed")
    assert report.products == 1 and not report.rejected
    return ledger


def _seed_state(ledger: Ledger) -> tuple[dict, set[str]]:
    product = ledger.product(SEED.id)
    return (product.model_dump(exclude={"reviews", "questions", "source"}),
            {f.id for f in ledger.facts(subject=SEED.id, status="active")})


def _jsonl_rows(data: bytes) -> int:
    """Lines a JSONL reader must store or reject: all but the blank ones (and those repeating a
    stored product exactly, which are skipped quietly)."""
    rows = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            rows += bool(raw.decode("utf-8-sig" if number == 1 else "utf-8").strip())
        except UnicodeDecodeError:
            rows += 1
    return rows


def _check_report(report: IngestReport, product_ids: list[str], path: Path, data: bytes, ledger: Ledger) -> None:
    """Every row is accounted for, every rejection names the file and a line and says why in one
    line, and what was stored reads back well formed."""
    line_count = data.count(b"\n") + data.count(b"\r") + 1
    for row in report.rejected:
        assert row.file == str(path)
        assert 1 <= row.line <= line_count, row
        assert row.reason.strip() and "\n" not in row.reason and len(row.reason) < 1000, row
    if report.format in ("catalog-jsonl", "oa-mine", "wdc-pave", "texts"):
        stored = report.texts if report.format == "texts" else report.products
        rows = _jsonl_rows(data)
        if report.format == "texts":
            assert stored + len(report.rejected) == rows
        else:  # a row whose product repeats a stored one exactly (id and content) is skipped quietly
            assert stored + len(report.rejected) <= rows
    assert len(product_ids) == report.products
    for product_id in product_ids:
        product = ledger.product(product_id)
        assert product.title == product.title.strip() != ""
        assert product.product_type is None or product.product_type == product.product_type.strip() != ""
        assert all(name.strip() and values and all(v.strip() for v in values)
                   for name, values in product.attributes.items()), product.attributes


def _ingest_fuzzed(tmp_path: Path, ledger: Ledger, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    before = _seed_state(ledger)
    with BatchIds() as batch:
        try:
            [report] = ingest_paths(ledger, [path], run_id="fuzz", batch=batch)
        except InputError as err:
            assert str(path) in str(err) and "\n" not in str(err)
        else:
            _check_report(report, list(batch), path, data, ledger)
    assert _seed_state(ledger) == before


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
@FUZZ
@given(data=st.binary(max_size=3000) | st.lists(st.binary(max_size=40), max_size=20).map(b"\n".join))
def test_random_bytes_never_raise(tmp_path, suffix, data):
    with _ledger(tmp_path) as ledger:
        _ingest_fuzzed(tmp_path, ledger, "fuzz" + suffix, data)


FILES = {"catalog": (jsonl_catalogs, ".jsonl"), "oa-mine": (oa_files, ".jsonl"),
         "wdc-pave": (wdc_files, ".jsonl"), "reviews": (review_files, ".jsonl"),
         "csv": (csv_files(), ".csv"), "parquet": (damaged_parquet(), ".parquet")}


@pytest.mark.parametrize("kind", FILES)
@FUZZ
@given(data=st.data())
def test_fuzzed_files_are_stored_or_rejected_row_by_row(tmp_path, kind, data):
    files, suffix = FILES[kind]
    with _ledger(tmp_path) as ledger:
        _ingest_fuzzed(tmp_path, ledger, "fuzz" + suffix, data.draw(files))


@CLI_FUZZ
@given(data=st.one_of(jsonl_catalogs, csv_files(), st.binary(max_size=500)),
       suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]))
def test_the_cli_ends_with_0_3_or_an_input_error(tmp_path, data, suffix):
    store = tmp_path / "g.db"
    with _ledger(tmp_path) as ledger:
        before = _seed_state(ledger)
    path = tmp_path / ("fuzz" + suffix)
    path.write_bytes(data)
    rejected = tmp_path / "rejected.jsonl"
    rejected.unlink(missing_ok=True)
    result = CliRunner().invoke(app, ["ingest", str(path), "--store", str(store), "--rejected", str(rejected)])
    assert "Traceback" not in result.output
    if result.exit_code not in (0, 3, 4):
        assert isinstance(result.exception, InputError), result.exception
    if result.exit_code == 3:
        rows = [json.loads(line) for line in rejected.read_bytes().splitlines()]  # str.splitlines splits at U+0085
        shown = [line for line in result.stderr.splitlines() if line.startswith("rejected ")]
        assert rows and len(rows) == len(shown)
        assert all(f"rejected {r['file']}:{r['line']}: {r['reason']}" == s for r, s in zip(rows, shown))
    with Ledger(store) as ledger:
        assert _seed_state(ledger) == before


# ---------------------------------------------------------------- regressions the fuzzing found
DEEP = b"[" * 100_000 + b"]" * 100_000
CASES = {  # name: (file name, content, ids stored, (line, start of the reason) of each rejected row)
    "a number past Python's digit limit": (
        "c.jsonl", b'{"id": "a", "title": "x", "n": ' + b"9" * 5000 + b'}\n{"id": "b", "title": "y"}\n',
        ["b"], [(1, "bad JSON: a number longer than 4300 digits")]),
    "JSON nested past the recursion limit": (
        "c.jsonl", b'{"id": "a", "title": "x", "a": ' + DEEP + b'}\n{"id": "b", "title": "y"}\n',
        ["b"], [(1, "bad JSON: nested too deeply")]),
    "attributes nested 900 deep": (
        "c.jsonl", b'{"id": "a", "title": "x", "attributes": {"k": ' + b"[" * 900 + b"1" + b"]" * 900
        + b'}}\n{"id": "b", "title": "y"}\n', ["b"], [(1, "nested deeper than 32 levels")]),
    "a lone surrogate in an attribute name": (
        "c.jsonl", b'{"id": "a", "title": "x", "attributes": {"\\udc00": "v"}}\n{"id": "b", "title": "y"}\n',
        ["b"], [(1, "text with a lone surrogate")]),
    "an OA-Mine line that is a list": (
        "oa.jsonl", b'{"input": "Diesel Sneaker", "category": "Shoes", "target_scores": {}}\n[1, 2]\n',
        [None], [(2, "expected a JSON object, got list")]),
    "a WDC-PAVE line that is a number": (
        "wdc.jsonl", b'{"id": 1, "input_title": "HP Xeon", "category": "C", "target_scores": {}}\n7\n',
        ["wdc-1"], [(2, "expected a JSON object, got int")]),
    "CSV with lone CR line ends": (
        "c.csv", b"id,title\rc1,T1\rc2,\rc3,T3\r", ["c1", "c3"], [(3, "missing title")]),
    "CSV that is only CR and NUL": ("c.csv", b"\r\x00", [], [(2, "more fields than the header names")]),
    "a CSV field past the csv module's size limit": (
        "c.csv", b'id,title\nc1,"' + b"x" * 200_000 + b"\nc2,T2\n", ["c2"],
        [(2, "bad CSV: field larger than field limit (131072)")]),
    "a JSONL catalogue whose first line is a comment": (
        "c.jsonl", b'# exported 2024\n{"id": "a", "title": "x"}\n', ["a"], [(1, "bad JSON")]),
    "a JSONL catalogue whose first line nests past the recursion limit": (
        "c.jsonl", DEEP + b'\n{"id": "a", "title": "x"}\n', ["a"], [(1, "bad JSON: nested too deeply")]),
    "an attribute with an empty name": (
        "c.jsonl", b'{"id": "a", "title": "x", "attributes": {" ": "v"}}\n{"id": "b", "title": "y", "": ""}\n',
        ["b"], [(1, "an attribute with an empty name")]),
    "a WDC-PAVE value under an empty attribute name": (
        "wdc.jsonl",
        b'{"id": 1, "input_title": "HP", "category": "C", "target_scores": {"Brand": {" ": {"pid": [0]}}}}\n'
        b'{"id": 2, "input_title": "HP", "category": "C", "target_scores": {"": {"x": {"pid": [0]}}}}\n',
        ["wdc-1"], [(2, "an attribute with an empty name")]),
    "a CSV header with an empty column name and values under it": (
        "c.csv", b"id,title,\nc1,T1,\nc2,T2,v\n", ["c1"], [(3, "an attribute with an empty name")]),
}


@pytest.mark.parametrize("name", CASES)
def test_fuzz_found_rows_are_rejected_with_their_line(tmp_path, name):
    file_name, content, stored, rejected = CASES[name]
    path = tmp_path / file_name
    path.write_bytes(content)
    with _ledger(tmp_path) as ledger:
        before = _seed_state(ledger)
        [report] = ingest_paths(ledger, [path], run_id="r")
        assert [(r.file, r.line) for r in report.rejected] == [(str(path), line) for line, _ in rejected]
        reasons = [r.reason for r in report.rejected]
        assert all(r.startswith(start) for r, (_, start) in zip(reasons, rejected)), reasons
        assert report.products == len(stored)
        assert all(ledger.product(i) for i in stored if i)
        assert _seed_state(ledger) == before


def test_every_format_strips_titles_and_stores_blank_types_and_values_as_none(tmp_path):
    catalog, wdc, oa = tmp_path / "c.jsonl", tmp_path / "wdc.jsonl", tmp_path / "oa.jsonl"
    catalog.write_text("\n".join(json.dumps({"id": i, "title": "x", "product_type": t})
                                 for i, t in [("a", "  "), ("b", "n/a"), ("c", " Tea ")]) + "\n")
    wdc.write_text(json.dumps({"id": 1, "input_title": "HP", "category": "",
                               "target_scores": {"Brand": {" ": {"pid": [0]}}}}) + "\n")
    oa.write_text(json.dumps({"input": "Diesel Sneaker\r", "category": "Shoes", "target_scores": {}}) + "\n")
    with Ledger(tmp_path / "g.db") as ledger:
        with BatchIds() as batch:
            ingest_paths(ledger, [catalog, wdc, oa], run_id="r", batch=batch)
            *_, oa_id = batch
        assert [ledger.product(i).product_type for i in ["a", "b", "c", "wdc-1"]] == [None, None, "Tea", None]
        assert ledger.product("wdc-1").attributes == {}
        assert ledger.product(oa_id).title == "Diesel Sneaker"


@pytest.mark.parametrize("records,reason", [
    ([{"input": "t", "category": "c", "target_scores": {}},
      {"input": "t", "category": "c", "target_scores": {"x" * 5000 + "\n": 5}}], "target_scores['xxx"),
    ([{"product_id": "x" * 5000, "text": "Smooth."}], "unknown product_id 'xxx"),
], ids=["OA-Mine", "reviews"])
def test_a_reason_quoting_a_long_field_is_one_short_line(tmp_path, records, reason):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with Ledger(tmp_path / "g.db") as ledger:
        [report] = ingest_paths(ledger, [path], run_id="r")
    [row] = report.rejected
    assert row.reason.startswith(reason) and row.reason.endswith("...") and len(row.reason) < 400


@pytest.mark.parametrize("content", [b'{"id": "a", "title": "not parquet"}\n',
                                     GOOD_PARQUET.replace(b"\x02\x00\x00\x00q1", b"\x02\x00\x00\x00\x801", 1)],
                         ids=["JSON", "an id that is not UTF-8"])
def test_a_file_that_is_not_parquet_raises_one_input_error(tmp_path, content):
    path = tmp_path / "c.parquet"
    path.write_bytes(content)
    with Ledger(tmp_path / "g.db") as ledger:
        with pytest.raises(InputError, match="not a readable Parquet file") as err:
            ingest_paths(ledger, [path], run_id="r")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_catalogue_is_never_read_as_a_taxonomy_because_of_its_first_line(tmp_path):
    for name, data in [("c.jsonl", b"# exported 2024\n"), ("c.jsonl", b"12 - Food > Tea\n"),
                       ("c.csv", b"#,title\n1,T\n")]:
        path = tmp_path / name
        path.write_bytes(data)
        assert detect_format(path) in ("catalog-jsonl", "catalog-csv"), data


def test_a_first_line_longer_than_4096_bytes_still_sets_the_format(tmp_path):
    for name, record, fmt in [
        ("r.jsonl", {"product_id": "p1", "text": "Smooth. " * 600}, "texts"),
        ("oa.jsonl", {"input": "Tea " * 1200, "category": "Tea", "target_scores": {}}, "oa-mine"),
    ]:
        path = tmp_path / name
        path.write_text(json.dumps(record) + "\n")
        assert detect_format(path) == fmt
