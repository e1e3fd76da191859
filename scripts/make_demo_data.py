"""Rebuild the bundled demo data in data/demo/ from ../shared/data (run once; output is committed).

- labelled.jsonl: OA-Mine train records (Apache-2.0), up to 60 per product type, OA-Mine format:
  the labelled examples baselines train on and agents take demonstrations from.
- catalog.jsonl: OA-Mine test records, 20 per type, as a generic catalogue whose only known
  attribute is Brand (the rest is for the pipeline to find), types taking turns line by line.
- taxonomy/: the Shopify taxonomy (MIT) branches these types live in, in Shopify's own format.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "data" / "demo"
# Branches kept whole (with their ancestors): where the ten OA-Mine types belong.
BRANCHES = ["fb-1", "fb-2-11", "hb-1-9-6", "hb-3-2-9", "hb-3-10", "hb-3-12", "hg-10-9", "aa-8", "bi-25-7"]


def pick(path: Path, per_type: int, seed: int) -> list[dict]:
    by_type: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_type[record["category"]].append(record)
    rng = random.Random(seed)
    chosen = []
    for category in sorted(by_type):
        records = by_type[category]
        chosen += rng.sample(records, min(per_type, len(records)))
    return chosen


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def taxonomy_subset() -> None:
    source = SHARED / "taxonomy" / "shopify"
    target = OUT / "taxonomy"
    (target / "categories").mkdir(parents=True, exist_ok=True)
    used_attributes: set[str] = set()
    for file in sorted((source / "categories").glob("*.yml")):
        entries = yaml.safe_load(file.read_text(encoding="utf-8")) or []
        ids = {e["id"] for e in entries}
        keep = {i for i in ids if any(i == b or i.startswith(b + "-") for b in BRANCHES)}
        for branch in BRANCHES:  # ancestors: every prefix of a kept id
            parts = branch.split("-")
            keep |= {"-".join(parts[:n]) for n in range(1, len(parts))} & ids
        subset = []
        for entry in entries:
            if entry["id"] in keep:
                entry = dict(entry, children=[c for c in entry.get("children") or [] if c in keep])
                used_attributes.update(entry.get("attributes") or [])
                subset.append(entry)
        if subset:
            (target / "categories" / file.name).write_text(
                yaml.safe_dump(subset, sort_keys=False, allow_unicode=True), encoding="utf-8")
    attributes = yaml.safe_load((source / "attributes.yml").read_text(encoding="utf-8"))
    kept = {group: [{k: a[k] for k in ("id", "name", "friendly_id", "handle") if k in a}
                    for a in items if a["friendly_id"] in used_attributes]
            for group, items in attributes.items()}
    (target / "attributes.yml").write_text(yaml.safe_dump(kept, sort_keys=False, allow_unicode=True),
                                           encoding="utf-8")
    shutil.copy(source / "LICENSE", target / "LICENSE")


def main() -> None:
    if not SHARED.exists():
        sys.exit(f"{SHARED} not found: this script needs the shared datasets")
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(OUT / "labelled.jsonl", pick(SHARED / "oa-mine" / "train.jsonl", 60, seed=1))
    catalog = []
    for number, record in enumerate(pick(SHARED / "oa-mine" / "test.jsonl", 20, seed=2), start=1):
        brand = list(record["target_scores"].get("Brand", {}))
        catalog.append({"id": f"demo-{number:03d}", "title": record["input"], "product_type": record["category"],
                        "attributes": {"Brand": brand} if brand else {}})
    # Round-robin over types, so that `--limit N` takes every type.
    by_type: dict[str, list[dict]] = defaultdict(list)
    for record in catalog:
        by_type[record["product_type"]].append(record)
    interleaved = [r for group in zip(*by_type.values()) for r in group]
    write_jsonl(OUT / "catalog.jsonl", interleaved)
    shutil.copy(SHARED / "oa-mine" / "LICENSE-ExtractGPT-Apache-2.0.txt", OUT / "LICENSE-OA-Mine-Apache-2.0.txt")
    taxonomy_subset()


if __name__ == "__main__":
    main()
