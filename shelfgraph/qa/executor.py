"""Run a `GraphQuery` over a read-only graph: matching products, the facts behind each, and
counts. Every value reported comes with the fact that states it."""

from __future__ import annotations

from collections import defaultdict

from ..models import ATTRIBUTE_PREFIX, Fact, Product, product_id_of
from ..store import HasValue
from .graph import GraphReader
from .planner import leading_number
from .query import TYPE_KEY, Citation, Filter, GraphQuery, Group, QueryResult, Row

_COMPARE = {"lt": float.__lt__, "le": float.__le__, "gt": float.__gt__, "ge": float.__ge__}


def execute(query: GraphQuery, graph: GraphReader) -> QueryResult:
    """The products matching `query` (value and type conditions in one SQL query, numeric
    comparisons after it), counted in full; facts, rows and citations are built only for the
    products returned (`offset`, `limit`), so a broad answer costs what its page costs."""
    having = [HasValue(f.attributes, f.values, negate=f.op == "ne") for f in query.filters if f.op in ("eq", "ne")]
    ids = graph.matching(query.product_types, having, query.title_terms)
    for flt in query.filters:
        if flt.op not in ("eq", "ne"):
            holding = {product_id_of(f.subject) for f in graph.attribute_facts(flt.attributes, ids)
                       if _holds(flt, f.object)}
            ids = [i for i in ids if i in holding]
    total = len(ids)
    kept = ids[query.offset: query.offset + query.limit] if query.limit else ids[query.offset:]
    evidence: dict[str, list[Fact]] = defaultdict(list)
    for flt in query.filters:
        if flt.op == "ne":
            continue
        by_value = flt.values if flt.op == "eq" else None  # read only the facts with those values
        for fact in graph.attribute_facts(flt.attributes, kept, by_value):
            if _holds(flt, fact.object):
                evidence[product_id_of(fact.subject)].append(fact)
    shown = graph.attribute_facts(query.show, kept) if query.show else []
    for fact in shown:
        evidence[product_id_of(fact.subject)].append(fact)
    products = graph.products(kept)
    type_facts = graph.type_facts(kept)
    rows = [_row(products[pid], type_facts.get(pid), evidence.get(pid, [])) for pid in kept if pid in products]
    groups = _groups(query, rows, graph, products) if query.intent == "group" else []
    return QueryResult(query=query, total=total, rows=rows, groups=groups)


def _holds(flt: Filter, value: str) -> bool:
    if flt.op in ("eq", "ne"):
        return value.lower() in {v.lower() for v in flt.values}
    parsed = leading_number(value)
    if parsed is None or (flt.unit is not None and parsed[1] != flt.unit):
        return False
    return _COMPARE[flt.op](parsed[0], float(flt.number))  # type: ignore[arg-type]


def citation(fact: Fact, product: Product | None, fact_id: str | None = None) -> Citation:
    """`fact` cited; `fact_id`, its id when already known (`Fact.id` hashes the fact each time)."""
    p = fact.provenance
    evidence = None
    if product is not None and p.source_field and p.start is not None and p.end is not None:
        try:
            evidence = product.field_text(p.source_field)[p.start : p.end]
        except KeyError:
            evidence = None
    return Citation(fact_id=fact_id or fact.id, product_id=product_id_of(fact.subject), predicate=fact.predicate,
                    value=fact.object, method=p.method, source_field=p.source_field, start=p.start, end=p.end,
                    evidence=evidence)


def _row(product: Product, type_fact: Fact | None, facts: list[Fact]) -> Row:
    values: dict[str, list[str]] = defaultdict(list)
    citations = [citation(type_fact, product)] if type_fact else []
    seen = set()
    for fact in facts:
        fact_id = fact.id
        if fact_id in seen:
            continue
        seen.add(fact_id)
        attribute = fact.predicate[len(ATTRIBUTE_PREFIX):]
        if fact.object not in values[attribute]:
            values[attribute].append(fact.object)
        citations.append(citation(fact, product, fact_id))
    return Row(product_id=product.id, title=product.title, product_type=product.product_type,
               values=dict(values), citations=citations)


def _groups(query: GraphQuery, rows: list[Row], graph: GraphReader, products: dict[str, Product]) -> list[Group]:
    members: dict[str, list[str]] = defaultdict(list)
    if query.group_by == TYPE_KEY:
        for row in rows:
            members[row.product_type or "(no type)"].append(row.product_id)
    else:
        ids = {row.product_id for row in rows}
        facts = graph.attribute_facts([query.group_by], ids)  # type: ignore[list-item]
        by_row = {row.product_id: row for row in rows}
        for fact in facts:
            product_id = product_id_of(fact.subject)
            if product_id not in members[fact.object]:
                members[fact.object].append(product_id)
                by_row[product_id].citations.append(citation(fact, products.get(product_id)))
        with_value = {pid for pids in members.values() for pid in pids}
        missing = sorted(ids - with_value)
        if missing:
            members["(no value in the graph)"] = missing
    groups = [Group(value=v, count=len(p), product_ids=p) for v, p in members.items()]
    return sorted(groups, key=lambda g: (-g.count, g.value.lower()))
