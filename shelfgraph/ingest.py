"""Read catalogues, review/Q&A texts and taxonomies into the ledger.

Formats are detected from the file: generic catalogues (JSONL, CSV, Parquet), the OA-Mine
(`input/category/target_scores`) and WDC-PAVE (`input_title/...`) records, review and Q&A
JSONL (`product_id`, `text`), and taxonomies (Shopify folder, Google `taxonomy-with-ids`
text, CSV `id,name,parent_id`). A bad row never stops a file: it becomes a `RejectedRow`
naming the file, the line and the reason, and everything else is stored.
"""

from __future__ import annotations

import csv
import glob
import json
import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, Protocol

from pydantic import BaseModel, Field, ValidationError

from .errors import InputError
from .models import (
    PRODUCT_TYPE,
    Fact,
    Product,
    Provenance,
    TaxonomyNode,
    TextSnippet,
    attribute_predicate,
    content_hash,
    is_no_value,
    product_subject,
)
from .labelled import oa_mine_record, record_to_product, wdc_pave_record
from .store import Ledger

Format = Literal[
    "catalog-jsonl", "catalog-csv", "catalog-parquet", "oa-mine", "wdc-pave", "texts",
    "shopify", "google-taxonomy", "taxonomy-csv",
]
TAXONOMY_FORMATS = ("shopify", "google-taxonomy", "taxonomy-csv")
MAX_DEPTH = 32  # JSON nesting a row may have; catalogue records need a handful of levels


class RejectedRow(BaseModel):
    file: str
    line: int
    reason: str
    raw: str = ""

    def message(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class IngestReport(BaseModel):
    file: str
    format: Format
    products: int = 0
    changed: int = 0
    facts: int = 0
    texts: int = 0
    taxonomy_nodes: int = 0
    rejected: list[RejectedRow] = Field(default_factory=list)


class RowError(ValueError):
    """A row that cannot be read; the message says why."""


class FirstSeen(Protocol):
    """Product id -> ("file:line", content hash) of the row it was first read from; a dict, or
    `BatchIds` for a batch of any size."""

    def setdefault(self, key: str, default: tuple[str, str], /) -> tuple[str, str]: ...


class BatchIds:
    """The product ids of one batch of files with where each was first read and its row's hash,
    kept in a private temporary SQLite file (deleted on close), not in memory: a repeated id is
    caught however large the batch, and the ids come back in the order they were read."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": a temporary file, SQLite's own
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN; "
                               "CREATE TABLE ids (id TEXT PRIMARY KEY, place TEXT NOT NULL, digest TEXT NOT NULL)")

    def __enter__(self) -> "BatchIds":
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def setdefault(self, key: str, default: tuple[str, str], /) -> tuple[str, str]:
        if self._db.execute("INSERT OR IGNORE INTO ids VALUES (?, ?, ?)", (key, *default)).rowcount:
            return default
        return self._db.execute("SELECT place, digest FROM ids WHERE id = ?", (key,)).fetchone()

    def __iter__(self) -> Iterator[str]:
        return (row[0] for row in self._db.execute("SELECT id FROM ids ORDER BY rowid"))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM ids").fetchone()[0]


# ---------------------------------------------------------------- reading lines safely
def _decoded_lines(path: Path, any_line_end: bool = False, opened: IO[bytes] | None = None
                   ) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, text or None when it is not UTF-8, raw bytes), 1-based, read as they come.
    Lines end at LF; with `any_line_end` also at a lone CR, as CSV's do (old Mac exports end
    lines with CR only). `opened`: the file already open (a Ray reader's stream), else `path` is."""
    with nullcontext(opened) if opened is not None else path.open("rb") as handle:
        raw_lines = _any_end_lines(handle) if any_line_end else handle
        for number, raw in enumerate(raw_lines, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield number, None, raw
                continue
            yield number, text, raw


def _any_end_lines(handle: IO[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    """Lines ending at LF, CRLF or a lone CR, read a chunk at a time (not the whole file). The
    last piece of a chunk waits for the next one: it may be cut, or be a CR before an LF."""
    rest = b""
    while data := handle.read(chunk):
        lines = (rest + data).splitlines(keepends=True)
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def json_rows(path: Path, opened: IO[bytes] | None = None) -> Iterator[tuple[int, Any] | RejectedRow]:
    """JSON Lines records with the line each is on, read as they come; undecodable lines and
    lines that are not one JSON object are rejected. `opened`: as for `_decoded_lines`."""
    for number, text, raw in _decoded_lines(path, opened=opened):
        if text is None:
            yield RejectedRow(file=str(path), line=number, reason="not UTF-8 text (unknown encoding)",
                              raw=raw.decode("latin-1")[:500])
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            problem = _shape_problem(record)
        except json.JSONDecodeError as err:
            problem = f"bad JSON: {err.msg} at column {err.colno}"
        except ValueError:  # the only other one json raises: an integer past Python's digit limit
            problem = f"bad JSON: a number longer than {sys.get_int_max_str_digits()} digits"
        except RecursionError:
            problem = "bad JSON: nested too deeply"
        if problem:
            yield RejectedRow(file=str(path), line=number, reason=problem, raw=text[:500])
            continue
        yield number, record


def _shape_problem(record: Any) -> str | None:
    """Why a parsed JSON line cannot be a row whatever its fields say: not an object, nested
    past MAX_DEPTH, or holding a lone surrogate (`"\\ud800"` parses, but no UTF-8 text holds it)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    stack = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            stack += [(key, depth) for key in value] + [(item, depth + 1) for item in value.values()]
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value]
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as err:
                return f"text with a lone surrogate {value[err.start]!r}, which is not Unicode text"
    return None


def csv_rows(path: Path, opened: IO[bytes] | None = None) -> Iterator[tuple[int, dict[str, str]] | RejectedRow]:
    """CSV rows as dicts with the line each starts on, read as they come; undecodable lines,
    rows the csv module cannot parse (a field past its size limit: an unclosed quote) and rows
    longer than the header are rejected. `opened`: as for `_decoded_lines`."""
    taken: list[tuple[int, str]] = []  # (line, text) the reader took for the row it is reading
    undecodable: list[RejectedRow] = []

    def lines() -> Iterator[str]:
        for number, text, raw in _decoded_lines(path, any_line_end=True, opened=opened):
            if text is None:
                undecodable.append(RejectedRow(file=str(path), line=number, reason="not UTF-8 text (unknown encoding)",
                                               raw=raw.decode("latin-1")[:500]))
                continue
            taken.append((number, text))
            yield text

    reader = csv.reader(lines())
    header: list[str] | None = None
    while True:
        taken.clear()
        try:
            cells = next(reader)
        except StopIteration:
            yield from undecodable
            return
        except csv.Error as err:
            if header is None:
                raise InputError(f"{path}:{taken[0][0]}: cannot read the CSV header: {err}") from err
            yield from undecodable
            undecodable.clear()
            yield RejectedRow(file=str(path), line=taken[0][0], reason=f"bad CSV: {err}", raw=taken[0][1][:500])
            continue
        yield from undecodable
        undecodable.clear()
        if header is None:
            header = cells
        elif len(cells) > len(header):
            yield RejectedRow(file=str(path), line=taken[0][0], reason="more fields than the header names",
                              raw="".join(text for _, text in taken)[:500])
        elif cells:  # a blank line has none
            yield taken[0][0], dict(zip(header, cells))


# ---------------------------------------------------------------- detecting formats
def detect_format(path: Path) -> Format:
    if path.is_dir():
        if (path / "categories").is_dir():
            return "shopify"
        raise RowError(f"{path}: a folder is read only as a Shopify taxonomy (it needs categories/)")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "catalog-parquet"
    with path.open("rb") as handle:  # the whole first line (up to 1 MB): a first review may be long
        line = handle.readline(1 << 20).decode("utf-8-sig", errors="replace")
    first = line.splitlines()[0].strip() if line.strip() else ""
    if suffix == ".csv":
        header = [h.strip().lower() for h in next(csv.reader([first]), [])]
        return "taxonomy-csv" if {"id", "name", "parent_id"} <= set(header) and "title" not in header else "catalog-csv"
    if suffix == ".txt" or (suffix not in (".jsonl", ".json") and re.match(r"^(#.*|\d+ - .+)$", first)):
        return "google-taxonomy"
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # bad JSON, a huge number, deep nesting
        return "catalog-jsonl"  # let the row reader report the bad lines
    if isinstance(record, dict):
        if "input" in record and "target_scores" in record:
            return "oa-mine"
        if "input_title" in record:
            return "wdc-pave"
        if "product_id" in record and "text" in record and "title" not in record:
            return "texts"
    return "catalog-jsonl"


# ---------------------------------------------------------------- products
def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _values(item)]
    if isinstance(value, dict):  # target_scores style {value: score}
        return [str(v) for v in value if not is_no_value(str(v))]
    text = str(value).strip()
    return [] if is_no_value(text) else [text]


def derived_id(prefix: str, *parts: str) -> str:
    return f"{prefix}-{content_hash(list(parts))[:16]}"


_CATALOG_KEYS = {"id", "title", "description", "product_type", "category", "attributes",
                 "reviews", "questions"}


def product_from_catalog(record: dict[str, Any]) -> Product:
    """A generic catalogue record: id, title, description, product_type/category, attributes
    (a dict, or any other column holding a value), reviews, questions."""
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RowError("missing title" if not title else f"title must be text, got {type(title).__name__}")
    description = record.get("description") or ""
    if not isinstance(description, str):
        raise RowError(f"description must be text, got {type(description).__name__}")
    attributes = record.get("attributes") or {}
    if isinstance(attributes, list) and all(isinstance(i, tuple) and len(i) == 2 for i in attributes):
        attributes = dict(attributes)  # a Parquet map column reads as (key, value) pairs
    if not isinstance(attributes, dict):
        raise RowError(f"attributes must be an object, got {type(attributes).__name__}")
    extra = {k: v for k, v in record.items() if k not in _CATALOG_KEYS}
    merged = {name: _values(value) for name, value in {**extra, **attributes}.items()}
    product_type = record.get("product_type") or record.get("category")
    if isinstance(product_type, (list, dict)):
        raise RowError(f"product_type must be one value, got {type(product_type).__name__}")
    product_id = record.get("id")
    return Product(
        id=str(product_id) if product_id not in (None, "") else derived_id("p", title, description),
        title=title,
        description=description,
        product_type=str(product_type) if product_type else None,
        attributes={k: v for k, v in merged.items() if v},
        reviews=record.get("reviews") or [],
        questions=record.get("questions") or [],
    )


def product_from_oa_mine(record: dict[str, Any]) -> Product:
    """An OA-Mine line; its id is derived from title and category (the lines carry none)."""
    labelled = oa_mine_record(record, default_id="")
    return record_to_product(labelled).model_copy(
        update={"id": derived_id("oa", labelled.title, labelled.category)})


def product_from_wdc_pave(record: dict[str, Any]) -> Product:
    labelled = wdc_pave_record(record, default_id="")
    product_id = f"wdc-{record['id']}" if record.get("id") is not None else derived_id("wdc", labelled.title)
    return record_to_product(labelled).model_copy(update={"id": product_id})


PRODUCT_READERS = {"catalog-jsonl": product_from_catalog, "catalog-csv": product_from_catalog,
                    "catalog-parquet": product_from_catalog, "oa-mine": product_from_oa_mine,
                    "wdc-pave": product_from_wdc_pave}


def _parquet_rows(path: Path, batch_rows: int = 1024) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a Parquet file, read one record batch at a time (a row group may hold millions)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                number += 1
                yield number, row
    except (pa.ArrowException, OSError, UnicodeDecodeError) as err:  # the last: a corrupt string column
        where = f" (after row {number})" if number else ""
        raise InputError(f"{path}: not a readable Parquet file{where}: {' '.join(str(err).split())}") from err


def read_products(path: Path, fmt: Format, seen: FirstSeen | None = None) -> Iterator[Product | RejectedRow]:
    """Products of a catalogue file; each bad row becomes a RejectedRow (file, line, reason).
    `seen` (product id -> "file:line" and content hash of its row, filled while reading) spans
    the files of one batch: a row repeating an id with other content is rejected, so the first
    row is the one stored; an identical repeat is skipped."""
    convert = PRODUCT_READERS[fmt]
    rows = {"catalog-csv": csv_rows, "catalog-parquet": _parquet_rows}.get(fmt, json_rows)(path)
    for item in rows:
        if isinstance(item, RejectedRow):
            yield item
            continue
        number, record = item
        product = converted_row(str(path), number, record, convert)
        if isinstance(product, RejectedRow):
            yield product
            continue
        placed = first_seen(product, str(path), path.name, number, seen,
                            lambda: json.dumps(record, default=str)[:500])
        if placed is not None:
            yield placed


def converted_row(file: str, number: int, record: Any, convert: Callable[[dict[str, Any]], Product]
                  ) -> Product | RejectedRow:
    """A record as a product, or why it is rejected."""
    try:
        return _tidied(convert(record))
    except (ValueError, TypeError, KeyError) as err:  # RowError and ValidationError too
        return RejectedRow(file=file, line=number, reason=_reason(err), raw=json.dumps(record, default=str)[:500])


def first_seen(product: Product, file: str, name: str, number: int, seen: FirstSeen | None,
               raw: Callable[[], str]) -> Product | RejectedRow | None:
    """The product with its source (`name:number`), unless an earlier row of the batch had its
    id: a rejection when that row said something else, None when it said the same. `raw`: the
    row's text, for the rejection."""
    if seen is not None:
        here, digest = f"{file}:{number}", product.content_hash()
        first, first_digest = seen.setdefault(product.id, (here, digest))
        if first != here:
            if first_digest != digest:  # a byte-identical repeat replaces nothing: skipped quietly
                return RejectedRow(file=file, line=number,
                                   reason=f"duplicate product id {product.id!r} (first at {first})",
                                   raw=raw())
            return None
    return product.model_copy(update={"source": f"{name}:{number}"})


def _tidied(product: Product) -> Product:
    """The product as every reader stores it: the title stripped, a blank or no-value type is
    none, blank values are dropped, and a value under a blank attribute name is an error (no
    query could name it)."""
    attributes = {name: [v for v in values if v.strip()] for name, values in product.attributes.items()}
    if any(values and not name.strip() for name, values in attributes.items()):
        raise RowError("an attribute with an empty name has a value")
    product_type = (product.product_type or "").strip()
    return product.model_copy(update={
        "title": product.title.strip(),
        "product_type": None if is_no_value(product_type) else product_type,
        "attributes": {name: values for name, values in attributes.items() if values}})


def _reason(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return _one_line("; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in err.errors()))
    return _one_line(str(err))


def _one_line(reason: str, limit: int = 300) -> str:
    """A reason as one line short enough to read: messages may quote a field of any length."""
    reason = " ".join(reason.split())
    return reason if len(reason) <= limit else reason[:limit] + "..."


def locate(text: str, value: str) -> tuple[int, int] | None:
    """Character span of `value` in `text` (case-insensitive, whole words preferred)."""
    if not value:
        return None
    match = re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE)
    if match is None:
        index = text.lower().find(value.lower())
        return (index, index + len(value)) if index >= 0 else None
    return match.span()


def gold_facts(product: Product, run_id: str) -> list[Fact]:
    """The catalogue's own values as the graph's starting facts, located in the text."""
    facts = []
    if product.product_type:
        facts.append(Fact(subject=product_subject(product.id), predicate=PRODUCT_TYPE, object=product.product_type,
                          confidence=1.0,
                          provenance=Provenance(step="ingest", method="gold", run_id=run_id,
                                                source_field="catalogue")))
    for attribute, values in product.attributes.items():
        for value in values:
            field, span = "catalogue", None
            for name in ("title", "description"):
                span = locate(product.field_text(name), value)
                if span:
                    field = name
                    break
            facts.append(Fact(
                subject=product_subject(product.id), predicate=attribute_predicate(attribute), object=value,
                confidence=1.0,
                provenance=Provenance(step="ingest", method="gold", run_id=run_id, source_field=field,
                                      start=span[0] if span else None, end=span[1] if span else None),
            ))
    return facts


# ---------------------------------------------------------------- reviews and Q&A
def read_texts(path: Path) -> Iterator[tuple[int, str, str, TextSnippet] | RejectedRow]:
    """(line, product id, "review" | "qa", snippet) from JSONL with `product_id` and `text`."""
    for item in json_rows(path):
        if isinstance(item, RejectedRow):
            yield item
            continue
        number, record = item
        if not record.get("product_id") or not isinstance(record.get("text"), str):
            yield RejectedRow(file=str(path), line=number, reason="needs 'product_id' and a text 'text'",
                              raw=json.dumps(record, default=str)[:500])
            continue
        kind = "qa" if str(record.get("kind", "review")).lower() in ("qa", "question", "q&a") else "review"
        snippet_id = str(record.get("id") or content_hash([record["text"]])[:12])
        yield number, str(record["product_id"]), kind, TextSnippet(id=snippet_id, text=record["text"])


# ---------------------------------------------------------------- taxonomies
class _Placed(NamedTuple):
    """A taxonomy node and where it was read, for the file and line a problem names."""
    file: str
    line: int
    node: TaxonomyNode


def read_taxonomy(path: str | Path) -> list[TaxonomyNode | RejectedRow]:
    """Nodes of a Shopify folder, a Google `taxonomy-with-ids` file or a CSV id,name,parent_id,
    made into a forest (see `_forest`); each bad row or broken link a RejectedRow (file, line)."""
    path = Path(path)
    readers = {"shopify": _read_shopify, "google-taxonomy": _read_google, "taxonomy-csv": _read_taxonomy_csv}
    fmt = detect_format(path)
    if fmt not in readers:
        raise RowError(f"{path}: not a taxonomy (a Shopify folder, a Google taxonomy-with-ids file "
                       "or a CSV with id,name,parent_id)")
    return _forest(readers[fmt](path))


def taxonomy_nodes(path: str | Path) -> list[TaxonomyNode]:
    """The nodes of the taxonomy at `path`, its rejected rows aside: what an eval or a tune
    reads (`ingest` reports the rejected rows)."""
    return [item for item in read_taxonomy(path) if isinstance(item, TaxonomyNode)]


def _taxonomy_node(file: Path, line: int, raw: Any, **fields: Any) -> _Placed | RejectedRow:
    """A node from one row, or the row rejected alone when it has no id or no name."""
    if not all(isinstance(fields.get(k), str) and fields[k].strip() for k in ("id", "name")):
        return RejectedRow(file=str(file), line=line, reason="a taxonomy row needs an id and a name",
                           raw=json.dumps(raw, default=str)[:500])
    try:
        return _Placed(str(file), line, TaxonomyNode(**{**fields, "id": fields["id"].strip(),
                                                        "name": fields["name"].strip()}))
    except ValidationError as err:
        return RejectedRow(file=str(file), line=line, reason=_reason(err), raw=json.dumps(raw, default=str)[:500])


def _rooted(place: _Placed, problem: str) -> RejectedRow:
    return RejectedRow(file=place.file, line=place.line, reason=f"{problem}; stored as a root",
                       raw=place.node.model_dump_json()[:500])


def _forest(items: Iterable[_Placed | RejectedRow]) -> list[TaxonomyNode | RejectedRow]:
    """The nodes with every parent link checked, then the rejected rows in file order.

    A node whose parent is not in the taxonomy (dangling), or whose parent link closes a cycle
    (a self-loop included), is kept as a root and reported: its name and attributes are good,
    and dropping only the bad link invents no edge. A cycle is broken at its node read first,
    so the rest of the cycle stays a chain under it. The last row of an id wins, as in the store."""
    rejected: list[RejectedRow] = []
    placed: dict[str, _Placed] = {}
    for item in items:
        if isinstance(item, RejectedRow):
            rejected.append(item)
        else:
            placed[item.node.id] = item
    parent_of = {node_id: place.node.parent for node_id, place in placed.items()}
    for node_id, place in placed.items():
        if parent_of[node_id] is not None and parent_of[node_id] not in placed:
            rejected.append(_rooted(place, f"parent {parent_of[node_id]!r} is not in this taxonomy "
                                           "(or its row was rejected)"))
            parent_of[node_id] = None
    order = {node_id: i for i, node_id in enumerate(placed)}
    for cycle in _cycles(parent_of):
        first = min(cycle, key=order.__getitem__)
        turn = cycle.index(first)
        names = [placed[n].node.name for n in cycle[turn:] + cycle[:turn] + [first]]
        rejected.append(_rooted(placed[first], f"{names[0]!r} is its own parent" if len(cycle) == 1
                                else f"parent cycle {' > '.join(map(repr, names))}"))
        parent_of[first] = None
    nodes = [place.node.model_copy(update={"parent": parent_of[node_id]}) for node_id, place in placed.items()]
    return [*nodes, *sorted(rejected, key=lambda r: (r.file, r.line))]


def _cycles(parent_of: dict[str, str | None]) -> list[list[str]]:
    """Every cycle of parent links (each parent a key or None), each listed child to parent."""
    state: dict[str, bool] = {}  # False while on the current walk up, True once done
    cycles = []
    for start in parent_of:
        walk: list[str] = []
        node = start
        while node is not None and node not in state:
            state[node] = False
            walk.append(node)
            node = parent_of[node]
        if node is not None and state[node] is False:  # walked back into this walk
            cycles.append(walk[walk.index(node):])
        state.update(dict.fromkeys(walk, True))
    return cycles


def _read_shopify(folder: Path) -> Iterator[_Placed | RejectedRow]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    names: dict[str, str] = {}
    attributes_file = folder / "attributes.yml"
    if attributes_file.exists():
        data = yaml.load(attributes_file.read_text(encoding="utf-8"), Loader=loader) or {}
        for group in data.values():
            for attribute in group or []:
                names[attribute["friendly_id"]] = attribute["name"]
    for file in sorted((folder / "categories").glob("*.yml")):
        entries = _yaml_items(file, loader)
        parents: dict[str, str] = {}
        for _, entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                for child in entry.get("children") or []:
                    parents[str(child)] = entry["id"]
        for line, entry in entries:
            if not isinstance(entry, dict):
                yield RejectedRow(file=str(file), line=line, reason="a category must be a mapping",
                                  raw=json.dumps(entry, default=str)[:500])
                continue
            yield _taxonomy_node(file, line, entry, id=entry.get("id"), name=entry.get("name"),
                                 parent=parents.get(str(entry.get("id"))),
                                 attributes=[names.get(a, a) if isinstance(a, str) else a
                                             for a in entry.get("attributes") or []])


def _yaml_items(file: Path, loader: Any) -> list[tuple[int, Any]]:
    """(line, value) of each item of a YAML list file: parsed once, lines from the nodes."""
    parser = loader(file.read_text(encoding="utf-8"))
    try:
        root = parser.get_single_node()
        items = root.value if root is not None and root.id == "sequence" else []
        return [(item.start_mark.line + 1, parser.construct_document(item)) for item in items]
    finally:
        parser.dispose()


def _read_google(path: Path) -> Iterator[_Placed | RejectedRow]:
    """Nodes of `ID - A > B > C` lines; a parent is the line whose path is this one's less its
    last level, wherever it is in the file."""
    rows: list[tuple[int, str, list[str], str]] = []
    for number, text, raw in _decoded_lines(path):
        if text is None:
            yield RejectedRow(file=str(path), line=number, reason="not UTF-8 text (unknown encoding)",
                              raw=raw.decode("latin-1")[:500])
            continue
        if not text.strip() or text.startswith("#"):
            continue
        node_id, sep, full_path = text.strip().partition(" - ")
        parts = [p.strip() for p in full_path.split(">")]
        if not sep or not all(parts):
            yield RejectedRow(file=str(path), line=number, reason="expected 'ID - A > B > C', a name at every level",
                              raw=text[:500])
            continue
        rows.append((number, node_id, parts, text))
    by_path = {" > ".join(parts): node_id for _, node_id, parts, _ in rows}
    for number, node_id, parts, text in rows:
        parent_path = " > ".join(parts[:-1])
        parent = by_path.get(parent_path) if parent_path else None
        node = _taxonomy_node(path, number, text, id=node_id, name=parts[-1], parent=parent)
        if parent_path and parent is None and isinstance(node, _Placed):
            yield _rooted(node, f"parent {parent_path!r} is not in this taxonomy")
        yield node


def _read_taxonomy_csv(path: Path) -> Iterator[_Placed | RejectedRow]:
    for item in csv_rows(path):
        if isinstance(item, RejectedRow):
            yield item
            continue
        number, row = item
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items()}
        yield _taxonomy_node(path, number, row, id=row.get("id"), name=row.get("name"),
                             parent=row.get("parent_id") or None)


# ---------------------------------------------------------------- into the ledger
def ingest_file(ledger: Ledger, path: Path, run_id: str, batch_size: int = 500,
                seen: FirstSeen | None = None) -> IngestReport:
    """Ingest one file of any supported format; bad rows are reported, the rest stored.
    `seen`: the product ids of the batch read so far (see `read_products`)."""
    fmt = detect_format(path)
    report = IngestReport(file=str(path), format=fmt)
    if fmt in TAXONOMY_FORMATS:
        items = read_taxonomy(path)
        report.rejected += [item for item in items if isinstance(item, RejectedRow)]
        report.taxonomy_nodes = ledger.upsert_taxonomy(
            [item for item in items if isinstance(item, TaxonomyNode)], source=str(path))
        return report
    if fmt == "texts":
        _ingest_texts(ledger, path, report, run_id)
        return report
    ingest_products(ledger, read_products(path, fmt, seen), run_id, report, batch_size)
    return report


def ingest_products(ledger: Ledger, items: Iterable[Product | RejectedRow], run_id: str, report: IngestReport,
                    batch_size: int = 500) -> None:
    """Store products as they come, `batch_size` to a transaction; rejected rows go to `report`."""
    batch: list[Product] = []
    for item in items:
        if isinstance(item, RejectedRow):
            report.rejected.append(item)
            continue
        batch.append(item)
        if len(batch) >= batch_size:
            _store_products(ledger, batch, run_id, report)
            batch = []
    _store_products(ledger, batch, run_id, report)


def _store_products(ledger: Ledger, products: list[Product], run_id: str, report: IngestReport) -> None:
    if not products:
        return
    with ledger.atomic():  # products and their starting facts land together
        stored_before = ledger.stored_products([p.id for p in products])
        changed = set(ledger.upsert_products(products, run_id))
        facts = {p.id: gold_facts(p, run_id) for p in products}
        report.changed += len(changed)
        report.facts += ledger.add_facts(f for p in products for f in facts[p.id])
        for product_id in changed & stored_before:  # a changed record no longer says what it used to
            current = {f.id for f in facts[product_id]}
            stale = [f.id for f in ledger.facts(subject=product_subject(product_id), step="ingest")
                     if f.id not in current]
            ledger.set_status(stale, "retracted", run_id, reason="ingest: the record changed")
    report.products += len(products)


def _ingest_texts(ledger: Ledger, path: Path, report: IngestReport, run_id: str) -> None:
    grouped: dict[str, list[tuple[int, str, TextSnippet]]] = {}
    for item in read_texts(path):
        if isinstance(item, RejectedRow):
            report.rejected.append(item)
            continue
        number, product_id, kind, snippet = item
        grouped.setdefault(product_id, []).append((number, kind, snippet))
    updated = []
    for product_id, snippets in grouped.items():
        product = ledger.product(product_id)
        if product is None:
            report.rejected.extend(
                RejectedRow(file=str(path), line=number, reason=_one_line(f"unknown product_id {product_id!r}"))
                for number, _, _ in snippets
            )
            continue
        reviews = {r.id: r for r in product.reviews}
        questions = {q.id: q for q in product.questions}
        for _, kind, snippet in snippets:
            (questions if kind == "qa" else reviews)[snippet.id] = snippet
        updated.append(product.model_copy(update={"reviews": list(reviews.values()),
                                                  "questions": list(questions.values())}))
        report.texts += len(snippets)
    report.changed = len(ledger.upsert_products(updated, run_id=run_id))


def ingest_paths(ledger: Ledger, paths: Iterable[Path], run_id: str, batch: BatchIds | None = None
                 ) -> list[IngestReport]:
    """Ingest the files of one batch (each path a file, a folder of catalogue files or a glob:
    see `input_files`); a product id may appear once in the whole batch. `batch` collects the
    batch's product ids, in the order read, for a caller that needs them (the build). Memory
    does not grow with the batch: files are read a few hundred rows at a time, and the ids
    seen so far are kept on disk."""
    files = input_files(paths)
    with BatchIds() as own:
        seen = batch if batch is not None else own
        with ledger.bulk_load() if ledger.is_empty() else nullcontext():
            return [ingest_file(ledger, path, run_id, seen=seen) for path in files]


CATALOGUE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def input_files(paths: Iterable[Path | str]) -> list[Path]:
    """The files to read for each path given: a file as it is; a folder of catalogue files
    (not a Shopify taxonomy) as every file ending in .jsonl, .json, .csv or .parquet under it,
    in name order, hidden ones skipped; a glob pattern (`*`, `?`, `[`; `**` spans folders) as
    the files it matches, in name order. A path that names nothing is an InputError."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir() and not (path / "categories").is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in CATALOGUE_SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(path).parts))
            if not found:
                raise InputError(f"{path}: a folder with neither catalogue files ({', '.join(CATALOGUE_SUFFIXES)}) "
                                 "nor a Shopify taxonomy (categories/) in it")
            files += found
        elif path.exists():
            files.append(path)
        elif any(c in str(given) for c in "*?["):
            found = sorted(Path(f) for f in glob.glob(str(given), recursive=True) if Path(f).is_file())
            if not found:
                raise InputError(f"{given}: no file matches this pattern")
            files += found
        else:
            raise InputError(f"{path}: no such file or folder")
    return files


def rejected_rows_path(store: Path) -> Path:
    """Where rejected input rows of a graph go by default: `graph.db` -> `graph.db.rejected.jsonl`."""
    return store.with_name(store.name + ".rejected.jsonl")


def write_rejected(rows: Iterable[RejectedRow], path: Path) -> int:
    """Append rejected rows as JSONL (file, line, reason, raw) so they can be fixed and re-fed."""
    rows = list(rows)
    if rows:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(row.model_dump_json() + "\n")
    return len(rows)
