"""The build summary as a person reads it: what grew, what was placed, rejected, merged."""

from __future__ import annotations

from typing import Any


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .terminal import safe_markup, safe_text

    console = Console()
    increase = summary["facts_increase_percent"]
    console.print(
        f"[bold]Build {summary['run_id']}[/]: {summary['products']} products in {summary['seconds']} s\n"
        f"facts {summary['facts_before']} -> {summary['facts_after']}"
        + (f" ([green]+{increase}%[/])" if increase is not None else "")
        + f"; product types {summary['types_before']} -> {summary['types_after']}; "
        f"rejected by cleaning {summary['rejected_by_cleaning']}; "
        f"synonym groups {len(summary['synonym_groups'])}; "
        f"LLM calls {summary['llm']['calls']} (cache hits {summary['llm']['cache_hits']})"
    )
    if summary["placements"]:
        table = Table("new type", "placed under", title="New product types")
        for name, path in list(summary["placements"].items())[:15]:
            table.add_row(safe_markup(name), safe_markup(path) if path else "[dim]not placed[/]")
        if len(summary["placements"]) > 15:
            table.add_row(f"... {len(summary['placements']) - 15} more", "")
        console.print(table)
    if summary["applicable_attributes"]:
        table = Table("type", "applicable attributes", title="Relation discovery")
        for name, attributes in list(summary["applicable_attributes"].items())[:12]:
            table.add_row(safe_markup(name), safe_markup(", ".join(attributes)))
        console.print(table)
    if summary["synonym_groups"]:
        groups = "; ".join(" = ".join(g) for g in summary["synonym_groups"][:8])
        console.print("Synonym groups: " + safe_markup(groups))
    table = Table("step", "method", "units", "done", "skipped", "facts added", "retracted", "flagged", "seconds",
                  title="Steps")
    for step in summary["steps"]:
        table.add_row(step["step"], safe_markup(step["method"]), *(str(step[k]) for k in
                      ("units", "done", "skipped", "facts_added", "retracted", "flagged", "seconds")))
    console.print(table)
    for note in summary["notes"]:
        console.print(Text.assemble(("note", "yellow"), f": {safe_text(note)}"), soft_wrap=True)  # [brackets] are text


GROUP_LABELS = {"attr:*": "attributes", "importance:*": "attribute importance"}


def predicate_groups(by_predicate: dict[str, int]) -> list[tuple[str, list[tuple[str, int]]]]:
    """The predicates of each prefix (`attr:`, `importance:`) as one group named `prefix*`,
    with the names after the prefix; any other predicate a group of its own. Largest groups
    first, members largest first."""
    from .models import ATTRIBUTE_PREFIX, IMPORTANCE_PREFIX

    groups: dict[str, list[tuple[str, int]]] = {}
    for predicate, count in by_predicate.items():
        prefix = next((p for p in (ATTRIBUTE_PREFIX, IMPORTANCE_PREFIX) if predicate.startswith(p)), None)
        key, member = (prefix + "*", predicate[len(prefix):]) if prefix else (predicate, predicate)
        groups.setdefault(key, []).append((member, count))
    ordered = sorted(groups.items(), key=lambda g: (-sum(n for _, n in g[1]), g[0]))
    return [(name, sorted(members, key=lambda m: (-m[1], m[0]))) for name, members in ordered]


def print_stats(store: object, counts: dict[str, Any], top: int = 10) -> None:
    """`shelfgraph stats` for a person: totals, facts by status, active facts by predicate with
    each family of predicates (`attr:*`: dozens of attributes) as one row, then a line naming
    the most frequent members of each family."""
    from rich.console import Console
    from rich.table import Table

    from .terminal import safe_markup

    console = Console()
    facts = counts["facts"]
    statuses = ", ".join(f"{status} {n:,}" for status, n in sorted(facts["by_status"].items()))
    console.print(f"[bold]{safe_markup(store)}[/]: {counts['products']:,} products, {counts['product_types']:,} "
                  f"product types, {counts['taxonomy_nodes']:,} taxonomy nodes, {counts['runs']:,} runs\n"
                  f"facts: {facts['total']:,}" + (f" ({statuses})" if statuses else ""))
    groups = predicate_groups(facts["by_predicate"])
    table = Table("predicate", "predicates", "active facts", title="Active facts by predicate")
    for name, members in groups:
        label = f"{GROUP_LABELS.get(name, name)} ({name})" if name.endswith("*") else name
        table.add_row(safe_markup(label), f"{len(members):,}", f"{sum(n for _, n in members):,}")
    console.print(table)
    for name, members in groups:
        if name.endswith("*"):
            named = ", ".join(f"{m} {n:,}" for m, n in members[:top])
            console.print(f"{GROUP_LABELS.get(name, name)}: {len(members):,} predicates, "
                          f"{sum(n for _, n in members):,} facts; top {min(top, len(members))}: {safe_markup(named)}")
