"""Labelled synonym pairs from WDC-PAVE, and the `a,b,label` CSV format they are kept in.

WDC-PAVE ships each split twice: raw gold values and the same values normalised ("HP" ->
"Hewlett-Packard", '36"' -> "91.4"). Two different raw values of one attribute (within a
category) that share a normalised value are synonyms (label 1); two that share none are not
(label 0). Offers with the same `cluster_id` (the same product at different shops, like
AutoKnow's co-viewed items) give candidate pairs too: their raw values of one attribute are
paired whatever their label. Negatives are sampled, `negatives_per_positive` per positive.

Only attributes whose normalisation rewrites a value without changing its meaning are used
(`attribute_descriptions.csv`, column `Normalization_params`: name or unit expansion, unit
conversion, numeric standardisation, deleted marks, upper case). Generalisations are left
out: "Product Type", "Interface" or "Color" are normalised to a class, which makes "wedding
band" and "ring" share a value without being synonyms; so is "Retail UPC" (normalised to its
manufacturer prefix) and every attribute that was not normalised. Pairs that differ only in
case or spacing are left out as trivial.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Sequence

from shelfgraph.models import is_no_value, normalise_label
from shelfgraph.steps import Pair

PAIR_COLUMNS = ("a", "b", "label", "attribute", "category")
SYNONYM_NORMALISATIONS = frozenset({
    "Name Expansion", "Unit Expansion", "Unit Conversion", "Numeric Standardization",
    "Delete Marks", "To Uppercase",
})


@dataclass
class _Values:
    """Raw values of one (category, attribute): each with its normalised values and the
    (cluster, offer) pairs it was found in."""

    normalised: dict[str, set[str]] = field(default_factory=dict)
    offers: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def co_clustered(self, a: str, b: str) -> bool:
        """Whether two different offers of one cluster (one product) hold `a` and `b`."""
        return any(ca == cb and oa != ob for ca, oa in self.offers[a] for cb, ob in self.offers[b])


def _read_jsonl(path: Path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
    return records


def _values(scores: dict) -> list[str]:
    return [v for v in scores if not is_no_value(v)]


def aligned_values(raw: dict, normalised: dict) -> dict[str, dict[str, set[str]]]:
    """attribute -> raw value -> its normalised values, for one offer.

    WDC-PAVE keeps values in the same order in both files; when the counts differ, only a
    single normalised value can be assigned (to every raw value), else the attribute is
    left out as ambiguous."""
    result: dict[str, dict[str, set[str]]] = {}
    for attribute, raw_scores in raw.get("target_scores", {}).items():
        raw_values = _values(raw_scores)
        norm_values = _values(normalised.get("target_scores", {}).get(attribute, {}))
        if not raw_values or not norm_values:
            continue
        if len(raw_values) == len(norm_values):
            mapping = {r: {normalise_label(n)} for r, n in zip(raw_values, norm_values)}
        elif len(norm_values) == 1:
            mapping = {r: {normalise_label(norm_values[0])} for r in raw_values}
        else:
            continue
        result[attribute] = mapping
    return result


def synonym_attributes(descriptions_csv: Path) -> set[tuple[str, str]]:
    """(category, attribute) pairs whose normalisation keeps meaning (see module docstring)."""
    with open(descriptions_csv, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    return {
        (row["Category"], row["Attribute"]) for row in rows
        if (row.get("Normalization_params") or "").strip("[] ") in SYNONYM_NORMALISATIONS
    }


def collect_values(raw_path: Path, normalised_path: Path) -> dict[tuple[str, str], _Values]:
    normalised = {record["id"]: record for record in _read_jsonl(normalised_path)}
    values: dict[tuple[str, str], _Values] = {}
    for number, record in enumerate(_read_jsonl(raw_path), 1):
        twin = normalised.get(record["id"])
        if twin is None:
            raise ValueError(f"{raw_path}:{number}: offer {record['id']} missing from {normalised_path}")
        for attribute, mapping in aligned_values(record, twin).items():
            entry = values.setdefault((record["category"], attribute), _Values())
            for raw_value, norms in mapping.items():
                entry.normalised.setdefault(raw_value, set()).update(norms)
                entry.offers.setdefault(raw_value, set()).add((str(record.get("cluster_id")), str(record["id"])))
    return values


def build_pairs(
    values: dict[tuple[str, str], _Values], attributes: Collection[tuple[str, str]],
    negatives_per_positive: int = 3, seed: int = 0,
) -> list[Pair]:
    """Positive pairs, cluster-candidate pairs and sampled negatives of each (category,
    attribute) in `attributes`."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for (category, attribute), entry in sorted(values.items()):
        if (category, attribute) not in attributes:
            continue
        positives, negatives, candidates = [], [], []
        raw = sorted(entry.normalised)
        for a, b in itertools.combinations(raw, 2):
            if normalise_label(a) == normalise_label(b):
                continue
            label = int(bool(entry.normalised[a] & entry.normalised[b]))
            pair = Pair(a=a, b=b, kind="value", attribute=f"{category}/{attribute}", label=label)
            if entry.co_clustered(a, b):
                candidates.append(pair)
            elif label:
                positives.append(pair)
            else:
                negatives.append(pair)
        quota = min(len(negatives), negatives_per_positive * max(len(positives), 1))
        pairs += candidates + positives + rng.sample(negatives, quota)
    return pairs


def write_pairs(pairs: Sequence[Pair], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAIR_COLUMNS)
        for pair in pairs:
            category, _, attribute = (pair.attribute or "").rpartition("/")
            writer.writerow([pair.a, pair.b, pair.label, attribute, category])
    return path


def read_pairs(path: Path) -> list[Pair]:
    """Pairs from a CSV with columns a,b,label (attribute, category and kind optional)."""
    path = Path(path)
    pairs = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"a", "b", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}:1: missing column(s) {', '.join(sorted(missing))}; need a,b,label")
        for row in reader:
            label = (row.get("label") or "").strip()
            if label not in ("0", "1", ""):
                raise ValueError(f"{path}:{reader.line_num}: label must be 0 or 1, got {label!r}")
            attribute = row.get("attribute") or None
            if attribute and row.get("category"):
                attribute = f"{row['category']}/{attribute}"
            pairs.append(Pair(a=row["a"], b=row["b"], label=int(label) if label else None,
                              kind=row.get("kind") or "value", attribute=attribute))
    return pairs


def build_wdc_pair_files(wdc_dir: Path, out_dir: Path, negatives_per_positive: int = 3,
                         seed: int = 0, train_split: str = "train_large") -> dict[str, dict]:
    """`train.csv` (from `train_split`, default the larger training split, which contains
    the small one) and `test.csv` under `out_dir`; the splits share no offer."""
    wdc_dir, out_dir = Path(wdc_dir), Path(out_dir)
    attributes = synonym_attributes(wdc_dir / "attribute_descriptions.csv")
    summary = {}
    for name, split in (("train", train_split), ("test", "test")):
        values = collect_values(wdc_dir / "wdc_with_all_attributes" / f"{split}.jsonl",
                                wdc_dir / "wdc_with_all_attributes_normalized" / f"{split}.jsonl")
        pairs = build_pairs(values, attributes, negatives_per_positive, seed)
        path = write_pairs(pairs, out_dir / f"{name}.csv")
        positives = sum(pair.label == 1 for pair in pairs)
        summary[name] = {"split": split, "path": str(path), "pairs": len(pairs), "positives": positives}
    return summary
