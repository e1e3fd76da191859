"""Recall@candidates of the hypernym agent without asking its model: how often the hidden
leaf's parent is among the nodes the agent would score, on the draw `shelfgraph eval
hypernym` uses (same `--sample` and `--seed`). `--set` takes the agent's settings.

    python scripts/hypernym_candidates.py --taxonomy ../shared/data/taxonomy/shopify --sample 200 --seed 1
    python scripts/hypernym_candidates.py --taxonomy ../shared/data/taxonomy/shopify --set retrieve=12 --set candidates=10

The first run on a home embeds the taxonomy into Chroma (10,000 nodes: minutes idle, half
an hour on busy shared cores); later runs reuse it.
"""

from __future__ import annotations

import argparse
import json

from shelfgraph.eval.tasks import sample_leaves
from shelfgraph.ingest import read_taxonomy
from shelfgraph.models import TaxonomyNode
from shelfgraph.registry import create


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taxonomy", required=True)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=INT", help="an agent setting")
    args = parser.parse_args()
    nodes = [n for n in read_taxonomy(args.taxonomy) if isinstance(n, TaxonomyNode)]
    hidden = sample_leaves(nodes, args.sample, args.seed)
    hidden_ids = {n.id for n in hidden}
    settings = {key: int(value) for key, value in (item.split("=", 1) for item in args.set)}
    agent = create("hypernym", "agent", **settings)
    agent.initialize([n for n in nodes if n.id not in hidden_ids])
    found = agent.candidates([n.name for n in hidden])
    hits = sum(n.parent in c for n, c in zip(hidden, found))
    print(json.dumps({"n": len(hidden), "recall_candidates": round(hits / len(hidden), 3),
                      "candidates": round(sum(map(len, found)) / len(hidden), 1), **settings}))


if __name__ == "__main__":
    main()
