"""Build benchmark: units per second of each pipeline step, and peak memory.

    python -m shelfgraph.eval.bench.build --method baseline [--limit N] [--store /tmp/bench-build.db]

Runs `shelfgraph build` on the bundled demo data into a fresh store (training included, as a
user's first build has it) and reports, per step, units done, seconds and units per second.
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

from shelfgraph.buildrun import run_build
from shelfgraph.context import LLMConfig
from shelfgraph.pipeline import BuildConfig

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="baseline")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--store", type=Path, default=Path("/tmp/shelfgraph-bench-build.db"))
    args = parser.parse_args()
    for suffix in ("", "-wal", "-shm", ".rejected.jsonl"):
        Path(str(args.store) + suffix).unlink(missing_ok=True)
    summary, _ = run_build(store=args.store, catalog=[DEMO / "catalog.jsonl"], taxonomy=DEMO / "taxonomy",
                           reviews=[], labelled=[DEMO / "labelled.jsonl"],
                           config=BuildConfig(method=args.method, limit=args.limit), llm=LLMConfig(), quiet=True)
    steps = {s["step"]: {"units": s["done"], "seconds": s["seconds"],
                         "units_per_s": round(s["done"] / s["seconds"], 2) if s["seconds"] else None}
             for s in summary["steps"]}
    print(json.dumps({"method": args.method, "products": summary["products"], "steps": steps,
                      "seconds": summary["seconds"], "llm_calls": summary["llm"]["calls"],
                      "facts_before": summary["facts_before"], "facts_after": summary["facts_after"],
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
