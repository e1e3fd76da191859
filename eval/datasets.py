"""Attribute-value extraction datasets: OA-Mine (ExtractGPT's format) and WDC-PAVE.

Both become a common `Record`: title, description, category and gold values per attribute,
where None means the dataset says the attribute has no value (`n/a`). OA-Mine lists only
attributes that have a value; WDC-PAVE also lists n/a attributes and the part (title or
description) each value was found in. Rows are parsed by `shelfgraph.labelled`, the parser
ingestion uses too; a bad row raises a ValueError naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from shelfgraph.labelled import NA, PARTS, Part, Record, oa_mine_record, record_to_product, wdc_pave_record

__all__ = ["NA", "PARTS", "Part", "Record", "record_to_product", "parse_oa_mine", "parse_wdc_pave",
           "load_oa_mine", "load_wdc_pave", "load_records", "known_attributes"]


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


def _parse(lines: Iterable[str], source: str, parse_row) -> list[Record]:
    """Records of every line; a bad one raises a ValueError naming the file and line. Rows
    without an id are named `<file stem>:<line>`."""
    records = []
    for number, row in _rows(lines, source):
        where = f"{source}:{number}"
        try:
            records.append(parse_row(row, f"{Path(source).stem}:{number}", where))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return records


def parse_oa_mine(lines: Iterable[str], source: str = "<oa-mine>") -> list[Record]:
    return _parse(lines, source, oa_mine_record)


def parse_wdc_pave(lines: Iterable[str], source: str = "<wdc-pave>") -> list[Record]:
    return _parse(lines, source, wdc_pave_record)


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
