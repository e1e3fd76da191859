"""A synthetic catalogue of any size for build benchmarks, deterministic by seed.

    python -m shelfgraph.eval.bench.synthetic --products 1000000 --seed 0 --out /tmp/catalog-1m.jsonl

Each product recombines the bundled labelled OA-Mine titles: a title of one product type has
each of its labelled values (brand, flavour, size...) swapped for a value that another product
of that type has for the same attribute, so titles stay realistic and every value is still a
span of the title. Rows are written one at a time: memory does not grow with N.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from shelfgraph.labelled import oa_mine_record

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


class Template:
    """A labelled title cut into literal text and attribute slots."""

    def __init__(self, category: str, title: str, values: dict[str, str]):
        self.category = category
        self.parts: list[tuple[str | None, str]] = []  # (attribute or None for literal text, text)
        spans = sorted((title.find(v), v, a) for a, v in values.items() if v and title.find(v) >= 0)
        cursor = 0
        for start, value, attribute in spans:
            if start < cursor:  # overlapping values: keep the first
                continue
            self.parts += [(None, title[cursor:start]), (attribute, value)]
            cursor = start + len(value)
        self.parts.append((None, title[cursor:]))


def load_templates(path: Path) -> tuple[list[Template], dict[tuple[str, str], list[str]]]:
    templates, pool = [], defaultdict(set)
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            record = oa_mine_record(json.loads(line), default_id=str(number))
            values = {a: vs[0] for a, vs in record.gold.items() if vs}
            templates.append(Template(record.category, record.title, values))
            for attribute, value in values.items():
                pool[(record.category, attribute)].add(value)
    return templates, {key: sorted(values) for key, values in pool.items()}


def synthetic_products(count: int, seed: int, labelled: Path = DEMO / "labelled.jsonl") -> Iterator[dict]:
    """`count` products in the bundled catalogue's format (id, title, product_type, Brand)."""
    templates, pool = load_templates(labelled)
    rng = random.Random(seed)
    for index in range(count):
        template = templates[rng.randrange(len(templates))]
        title, attributes = [], {}
        for attribute, text in template.parts:
            if attribute is not None:
                text = rng.choice(pool[(template.category, attribute)])
                attributes[attribute] = [text]
            title.append(text)
        brand = {"Brand": attributes["Brand"]} if "Brand" in attributes else {}
        yield {"id": f"syn-{seed}-{index:07d}", "title": "".join(title), "product_type": template.category,
               "attributes": brand}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.products < 0:
        parser.error("--products must be >= 0")
    with args.out.open("w", encoding="utf-8") as out:
        for product in synthetic_products(args.products, args.seed):
            out.write(json.dumps(product, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
