"""Attribute-value extraction datasets: OA-Mine (ExtractGPT's format) and WDC-PAVE.

Both become a common `Record`: title, description, category and gold values per attribute,
where None means the dataset says the attribute has no value (`n/a`). OA-Mine lists only
attributes that have a value; WDC-PAVE also lists n/a attributes and the part (title or
description) each value was found in. Loaders are pure functions over lines; a bad row raises
a ValueError naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from pydantic import BaseModel, Field

from shelfgraph.models import Product

Part = Literal["title", "description"]
PARTS: dict[int, Part] = {0: "title", 1: "description"}
NA = "n/a"


class Record(BaseModel):
    id: str
    title: str
    description: str = ""
    category: str
    gold: dict[str, list[str] | None]  # attribute -> values; None = n/a
    parts: dict[str, dict[str, list[Part]]] = Field(default_factory=dict)  # attribute -> value -> parts
    source: str | None = None  # "file:line"


def _rows(lines: Iterable[str], source: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{source}:{number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def _require(row: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = row.get(key)
    if not isinstance(value, kind):
        raise ValueError(f"{where}: field {key!r} missing or not a {getattr(kind, '__name__', kind)}")
    return value


def _text(value: Any) -> str:
    """WDC-PAVE texts may be null."""
    return value if isinstance(value, str) else ""


def parse_oa_mine(lines: Iterable[str], source: str = "<oa-mine>") -> list[Record]:
    """`{"input": title, "category": type, "target_scores": {attribute: {value: 1}}}` per line."""
    name = Path(source).stem
    records = []
    for number, row in _rows(lines, source):
        where = f"{source}:{number}"
        targets = _require(row, "target_scores", dict, where)
        gold: dict[str, list[str] | None] = {}
        for attribute, values in targets.items():
            if not isinstance(values, dict):
                raise ValueError(f"{where}: target_scores[{attribute!r}] is not an object of values")
            kept = [v for v in values if v != NA]
            gold[attribute] = kept or None
        records.append(Record(
            id=str(row.get("id") or f"{name}:{number}"), title=_require(row, "input", str, where),
            category=_require(row, "category", str, where), gold=gold, source=where))
    return records


def parse_wdc_pave(lines: Iterable[str], source: str = "<wdc-pave>") -> list[Record]:
    """`{"id", "category", "input_title", "input_description", "target_scores": {attribute:
    {value: {"pid": [0|1...], "score": 1}} | {"n/a": 1}}}` per line; pid 0 = title, 1 = description."""
    records = []
    for number, row in _rows(lines, source):
        where = f"{source}:{number}"
        targets = _require(row, "target_scores", dict, where)
        gold: dict[str, list[str] | None] = {}
        parts: dict[str, dict[str, list[Part]]] = {}
        for attribute, values in targets.items():
            if not isinstance(values, dict):
                raise ValueError(f"{where}: target_scores[{attribute!r}] is not an object of values")
            kept = [v for v in values if v != NA]
            gold[attribute] = kept or None
            for value in kept:
                info = values[value]
                pids = info.get("pid", []) if isinstance(info, dict) else []
                if any(pid not in PARTS for pid in pids):
                    raise ValueError(f"{where}: target_scores[{attribute!r}][{value!r}] has a pid other than 0 or 1")
                parts.setdefault(attribute, {})[value] = [PARTS[pid] for pid in pids]
        identifier = row.get("id")
        records.append(Record(
            id=str(identifier if identifier is not None else f"{Path(source).stem}:{number}"),
            title=_require(row, "input_title", str, where), description=_text(row.get("input_description")),
            category=_require(row, "category", str, where), gold=gold, parts=parts, source=where))
    return records


def _read(path: Path | str) -> tuple[list[str], str]:
    path = Path(path)
    with open(path, encoding="utf-8") as lines:
        return lines.readlines(), str(path)


def load_oa_mine(path: Path | str) -> list[Record]:
    return parse_oa_mine(*_read(path))


def load_wdc_pave(path: Path | str) -> list[Record]:
    return parse_wdc_pave(*_read(path))


def load_records(path: Path | str) -> list[Record]:
    """Either format, told apart by the first row's keys (`input` vs `input_title`)."""
    lines, source = _read(path)
    for number, row in _rows(lines, source):
        if "input_title" in row:
            return parse_wdc_pave(lines, source)
        if "input" in row:
            return parse_oa_mine(lines, source)
        raise ValueError(f"{source}:{number}: neither OA-Mine ('input') nor WDC-PAVE ('input_title') format")
    return []


def known_attributes(records: Sequence[Record]) -> dict[str, list[str]]:
    """Attributes named in each category's gold records, in order of first appearance."""
    known: dict[str, dict[str, None]] = {}
    for record in records:
        known.setdefault(record.category, {}).update(dict.fromkeys(record.gold))
    return {category: list(attributes) for category, attributes in known.items()}


def record_to_product(record: Record) -> Product:
    """The record as a catalogue product whose attributes are its gold values (n/a dropped)."""
    return Product(
        id=record.id, title=record.title, description=record.description, product_type=record.category,
        attributes={a: list(values) for a, values in record.gold.items() if values}, source=record.source)
