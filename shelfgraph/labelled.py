"""Labelled product lines of the two extraction datasets, parsed once for ingestion and eval.

OA-Mine (ExtractGPT's format): `{"input": title, "category": type, "target_scores":
{attribute: {value: 1}}}`; only attributes with a value are listed. WDC-PAVE: `{"id",
"category", "input_title", "input_description", "target_scores": {attribute: {value: {"pid":
[0|1...], "score": 1}} | {"n/a": 1}}}`, where pid 0 is the title and 1 the description, and
`n/a` says the attribute has no value. Both become a `Record`; a bad row raises ValueError.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .llm.grounding import NA
from .models import Product

Part = Literal["title", "description"]
PARTS: dict[int, Part] = {0: "title", 1: "description"}


class Record(BaseModel):
    id: str
    title: str
    description: str = ""
    category: str
    gold: dict[str, list[str] | None]  # attribute -> values; None = n/a
    parts: dict[str, dict[str, list[Part]]] = Field(default_factory=dict)  # attribute -> value -> parts
    source: str | None = None  # "file:line"


def _require(row: dict[str, Any], key: str, kind: type) -> Any:
    value = row.get(key)
    if not isinstance(value, kind):
        raise ValueError(f"field {key!r} missing or not a {kind.__name__}")
    return value


def _title(row: dict[str, Any], key: str) -> str:
    title = row.get(key)
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"missing title (field {key!r})")
    return title


def _gold(row: dict[str, Any]) -> tuple[dict[str, list[str] | None], dict[str, dict[str, Any]]]:
    """attribute -> values (None for n/a), and each attribute's raw {value: info} object."""
    targets = _require(row, "target_scores", dict)
    gold: dict[str, list[str] | None] = {}
    for attribute, values in targets.items():
        if not isinstance(values, dict):
            raise ValueError(f"target_scores[{attribute!r}] is not an object of values")
        gold[attribute] = [v for v in values if v != NA] or None
    return gold, targets


def oa_mine_record(row: dict[str, Any], default_id: str, source: str | None = None) -> Record:
    gold, _ = _gold(row)
    return Record(id=str(row.get("id") or default_id), title=_title(row, "input"),
                  category=_require(row, "category", str), gold=gold, source=source)


def wdc_pave_record(row: dict[str, Any], default_id: str, source: str | None = None) -> Record:
    gold, targets = _gold(row)
    parts: dict[str, dict[str, list[Part]]] = {}
    for attribute, values in gold.items():
        for value in values or []:
            info = targets[attribute][value]
            pids = info.get("pid", []) if isinstance(info, dict) else []
            if any(pid not in PARTS for pid in pids):
                raise ValueError(f"target_scores[{attribute!r}][{value!r}] has a pid other than 0 or 1")
            parts.setdefault(attribute, {})[value] = [PARTS[pid] for pid in pids]
    identifier = row.get("id")
    description = row.get("input_description")  # may be null
    return Record(id=str(identifier if identifier is not None else default_id),
                  title=_title(row, "input_title"),
                  description=description if isinstance(description, str) else "",
                  category=_require(row, "category", str), gold=gold, parts=parts, source=source)


def record_to_product(record: Record) -> Product:
    """The record as a catalogue product whose attributes are its gold values (n/a dropped)."""
    return Product(
        id=record.id, title=record.title, description=record.description, product_type=record.category,
        attributes={a: list(values) for a, values in record.gold.items() if values}, source=record.source)
