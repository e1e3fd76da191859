"""Answer text built only from the rows a query returned: every product named is a row, every
value shown is a stored fact, cited by id with the span of text it was read from."""

from __future__ import annotations

from .query import Answer, Citation, Passage, QueryResult, Row

MAX_LISTED = 25  # products written out in full; the rest are named by id


def cite(c: Citation) -> str:
    where = ""
    if c.source_field is not None and c.start is not None:
        where = f" {c.source_field}[{c.start}:{c.end}]"
        if c.evidence:
            where += f" {c.evidence!r}"
    return f"[{c.fact_id[:19]} {c.method}{where}]"


def graph_answer(question: str, result: QueryResult) -> Answer:
    query = result.query
    scope = query.describe()
    citations = [c for row in result.rows for c in row.citations]
    ids = result.product_ids
    if result.total == 0:
        text = f"Not in the graph: no products match {scope}."
        return Answer(question=question, kind="not_found", text=text, query=query, total=0)
    if query.intent == "count":
        lines = [f"{result.total} product(s) match {scope}: {', '.join(ids)}.", "Facts behind this answer:"]
        lines += _product_lines(result.rows)
    elif query.intent == "group":
        lines = [f"{result.total} product(s) match {scope}, by {query.group_by}:"]
        lines += [f"- {g.value}: {g.count} ({', '.join(g.product_ids)})" for g in result.groups]
        lines += ["Facts behind this answer:"] + _product_lines(result.rows)
    else:
        shown = f"; showing {len(result.rows)}" if len(result.rows) < result.total else ""
        if query.offset and result.rows:
            shown = f"; showing {query.offset + 1}-{query.offset + len(result.rows)}"
        lines = [f"{result.total} product(s) match {scope}{shown}:"] + _product_lines(result.rows)
        for attribute in query.show:
            counts: dict[str, int] = {}
            for row in result.rows:
                for value in row.values.get(attribute, []):
                    counts[value] = counts.get(value, 0) + 1
            if counts:
                summary = ", ".join(f"{v} ({n})" for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
                lines.append(f"{attribute}: {summary}")
            else:
                lines.append(f"{attribute}: not in the graph for these products")
    return Answer(question=question, kind="graph", text="\n".join(lines), query=query, product_ids=ids,
                  total=result.total, citations=citations, titles={row.product_id: row.title for row in result.rows})


def _product_lines(rows: list[Row]) -> list[str]:
    """Each product with the facts that put it in the answer; past MAX_LISTED, ids only."""
    lines = []
    for row in rows[:MAX_LISTED]:
        lines.append(f"- {row.product_id}: {row.title}")
        for c in row.citations:
            lines.append(f"    {c.predicate.removeprefix('attr:')} = {c.value} {cite(c)}")
    if rows[MAX_LISTED:]:
        lines.append(f"- and {len(rows) - MAX_LISTED} more: {', '.join(r.product_id for r in rows[MAX_LISTED:])}")
    return lines


def not_found_answer(question: str, unknown_terms: list[str], what: str = "", known: list[str] | None = None,
                     suggestions: dict[str, str] | None = None) -> Answer:
    if what:
        text = f"Not in the graph: it has no {what} {', '.join(repr(t) for t in unknown_terms)}"
        text += f" (it has: {', '.join(known)})." if known else "."
    elif unknown_terms:
        terms = ", ".join(repr(t) for t in unknown_terms)
        text = f"Not in the graph: nothing in it mentions {terms}, so I cannot answer from it."
        if suggestions:
            text += " Did you mean " + ", ".join(f"{w!r} for {t!r}" for t, w in suggestions.items()) + "?"
    else:
        text = "Not in the graph: the question names no product type, attribute or value the graph knows."
    return Answer(question=question, kind="not_found", text=text, unknown_terms=unknown_terms)


def text_answer(question: str, passages: list[Passage], searched: list[str], titles: dict[str, str]) -> Answer:
    if not passages:
        names = "; ".join(f"{pid} ({titles.get(pid, '?')})" for pid in searched) or "any product"
        text = f"Not in the graph: no description, review or Q&A text of {names} speaks to this."
        return Answer(question=question, kind="not_found", text=text)
    lines = ["From the products' own texts (closest sentences first):"]
    for p in passages:
        lines.append(f"- {p.product_id} ({p.title}), {p.source_field}[{p.start}:{p.end}]: {p.text!r}")
    ids = list(dict.fromkeys(p.product_id for p in passages))
    return Answer(question=question, kind="text", text="\n".join(lines), product_ids=ids, passages=passages,
                  titles={p.product_id: p.title for p in passages})
