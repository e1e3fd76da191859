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
