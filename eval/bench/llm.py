"""LLM layer benchmark: where the time of a structured call goes, and what cuts it.

On OA-Mine test titles (the packaged Gemma 3 270M, in-process, 2 threads), each record's
attributes are extracted by three routes, all greedy and all grounded (values can only be
spans of the title, or n/a):

* `grammar-full`: one JSON call under a GBNF grammar built from `grounded_model`, sampled by
  llama-cpp-python's sampler chain, which applies the grammar to all 262k vocabulary tokens
  at every step (the library's default path);
* `grammar-lazy`: the same call, the grammar checked on the arg-max token first and applied
  to the whole vocabulary only when it rejects it (same output, far fewer full passes);
* `spans`: `LLM.extract_spans`: a form-style prompt (same examples), each attribute's value decoded among
  the title's spans through a token trie (no grammar), the prompt evaluated once.

Decisions (is VALUE the ATTRIBUTE of this title? true value vs another record's) compare
`LLM.choose` (option log-probabilities) with a structured yes/no call under the full grammar.
Each call reports wall time and llama.cpp's own decode time (`llama_perf_context`).

    python -m shelfgraph.eval.bench.llm [--limit 12] [--per-category 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import create_model

from shelfgraph.llm.local import Decoded, LocalModel

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "oa-mine"


def form_block(title: str, attributes: list[str], gold: dict[str, Any] | None) -> str:
    lines = [f"Title: {title}"]
    if gold is not None:
        lines += [f"{a}: {(gold.get(a) or ['n/a'])[0]}" for a in attributes]
    return "\n".join(lines) + "\n"


def json_block(title: str, attributes: list[str], gold: dict[str, Any] | None) -> str:
    if gold is None:
        return f"Title: {title}\nJSON: "
    values = {a: (gold.get(a) or ["n/a"])[0] for a in attributes}
    return f"Title: {title}\nJSON: {json.dumps(values, ensure_ascii=False)}\n"


class SamplerChainModel(LocalModel):
    """The `grammar-full` route: llama-cpp-python's own sampler chain, which filters the whole
    vocabulary through the grammar at every token (what `LocalModel.generate` avoids)."""

    def generate(self, prompt: str, grammar: str | None, max_tokens: int) -> Decoded:
        from llama_cpp import LlamaGrammar

        if not grammar:
            return super().generate(prompt, grammar, max_tokens)
        with self._lock:
            start_ms = self._perf_ms()
            out = self.llama.create_completion(
                prompt, grammar=LlamaGrammar.from_string(grammar, verbose=False), max_tokens=max_tokens,
                temperature=0.0, repeat_penalty=1.0,
            )
            usage = out["usage"]
            return Decoded(out["choices"][0]["text"], usage["prompt_tokens"], usage["completion_tokens"],
                           self._perf_ms() - start_ms, out["choices"][0]["finish_reason"] or "stop")


def build_cases(limit: int, per_category: int, shots: int = 2) -> list[dict[str, Any]]:
    from shelfgraph.eval.datasets import known_attributes, load_oa_mine

    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is missing: the benchmark needs ../shared/data (see its README)")
    train, test = load_oa_mine(DATA / "train.jsonl"), load_oa_mine(DATA / "test.jsonl")
    known = known_attributes(train)
    by_category: dict[str, list] = {}
    for record in train:
        by_category.setdefault(record.category, []).append(record)
    cases = []
    # `per_category` records of each category in turn, grouped as a batch pipeline would run
    # them: records of one category share the few-shot prefix, which the KV cache reuses
    groups: dict[str, list] = {}
    for record in test:
        groups.setdefault(record.category, []).append(record)
    queue = [r for group in groups.values() for r in group[:per_category]][:limit]
    for i, record in enumerate(queue):
        attributes = known[record.category]
        examples = by_category[record.category][:shots]
        other = queue[(i + 1) % len(queue)]
        cases.append({
            "record": record, "attributes": attributes,
            "form": "".join(form_block(e.title, attributes, e.gold) + "\n" for e in examples)
            + form_block(record.title, attributes, None),
            "json": "".join(json_block(e.title, attributes, e.gold) + "\n" for e in examples)
            + json_block(record.title, attributes, None),
            "brand_true": (record.gold.get("Brand") or [None])[0],
            "brand_other": (other.gold.get("Brand") or [None])[0],
        })
    return cases


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    wall = [r["wall_ms"] for r in rows]
    compute = [r["compute_ms"] for r in rows]
    return {
        "calls": len(rows),
        "wall_ms_p50": round(statistics.median(wall), 1),
        "compute_ms_p50": round(statistics.median(compute), 1),
        "overhead_ms_p50": round(statistics.median(w - c for w, c in zip(wall, compute)), 1),
        "wall_ms_mean": round(statistics.fmean(wall), 1),
        "compute_share": round(sum(compute) / sum(wall), 3),
    }


def run(limit: int, per_category: int) -> dict[str, Any]:
    from shelfgraph.eval.metrics import extraction_score
    from shelfgraph.context import LLMConfig
    from shelfgraph.llm import get_llm, grounded_model

    home = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    config = LLMConfig(use_cache=False, max_retries=0)
    lazy = get_llm(config, home)
    full = type(lazy)(config, home, SamplerChainModel(lazy.backend.path, lazy.model_name))
    cases = build_cases(limit, per_category)
    lazy.choose("warm up:", ["yes", "no"])

    results: dict[str, Any] = {}
    routes = {
        "grammar-full": lambda c: full.structured(c["json"], grounded_model(c["record"].title, c["attributes"]), 160),
        "grammar-lazy": lambda c: lazy.structured(c["json"], grounded_model(c["record"].title, c["attributes"]), 160),
        "spans": lambda c: lazy.extract_spans(c["form"], c["record"].title, c["attributes"]),
    }
    for name, call in routes.items():
        rows, preds = [], []
        for case in cases:
            started = time.perf_counter()
            result = call(case)
            wall = (time.perf_counter() - started) * 1000
            spans = result.value if name == "spans" else result.value.spans()
            preds.append({a: (s.value if s else None) for a, s in spans.items()})
            rows.append({"wall_ms": wall, "compute_ms": result.call.compute_ms or 0.0,
                         "tokens_out": result.call.tokens_out or 0})
        score = extraction_score([c["record"].gold for c in cases], preds, [c["attributes"] for c in cases])
        results[name] = {**summarise(rows), "tokens_out_mean": round(statistics.fmean(r["tokens_out"] for r in rows), 1),
                         "f1": score["f1"], "precision": score["precision"], "recall": score["recall"]}
        print(name, json.dumps(results[name]), flush=True)

    yes_no = create_model("Answer", answer=(Literal["yes", "no"], ...))
    questions = [(c, value, value == c["brand_true"]) for c in cases
                 for value in (c["brand_true"], c["brand_other"]) if value and c["brand_true"] != c["brand_other"]]
    decision_routes = {
        "choose (option logprobs)": lambda p: lazy.choose(p, ["yes", "no"]),
        "structured yes/no, grammar-full": lambda p: full.structured(p + " ", yes_no, 16),
    }
    for name, call in decision_routes.items():
        rows, correct = [], 0
        for case, value, truth in questions:
            prompt = ("Answer yes if the brand is right for the title, else no.\n"
                      "Title: Lipton Green Tea Bags, 100 count | Brand: Lipton | Answer: yes\n"
                      "Title: Crest Toothpaste Mint | Brand: Folgers | Answer: no\n"
                      f"Title: {case['record'].title} | Brand: {value} | Answer:")
            started = time.perf_counter()
            result = call(prompt)
            wall = (time.perf_counter() - started) * 1000
            option = result.option if hasattr(result, "option") else result.value.answer
            correct += (option == "yes") == truth
            rows.append({"wall_ms": wall, "compute_ms": result.call.compute_ms or 0.0})
        results[name] = {**summarise(rows), "accuracy": round(correct / len(questions), 3)}
        print(name, json.dumps(results[name]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=12, help="OA-Mine test records in all")
    parser.add_argument("--per-category", type=int, default=3, help="records of each category, in file order")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = run(args.limit, args.per_category)
    print("\n| route | calls | wall p50 ms | llama.cpp compute p50 ms | overhead p50 ms | compute share | quality |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        quality = f"F1 {r['f1']}" if "f1" in r else f"accuracy {r['accuracy']}"
        print(f"| {name} | {r['calls']} | {r['wall_ms_p50']} | {r['compute_ms_p50']} | {r['overhead_ms_p50']} "
              f"| {r['compute_share']} | {quality} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
