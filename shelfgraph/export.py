"""Export the graph: RDF (Turtle, JSON-LD) with schema.org and SKOS, JSONL, Parquet, and the
CSV files `neo4j-admin database import` reads. Provenance and confidence travel with every fact.

In RDF each fact is a direct triple (easy to query) plus a reified `rdf:Statement` carrying
its confidence, status and provenance. Products are `schema:Product`, attribute values
`schema:PropertyValue`, taxonomy nodes and product types `skos:Concept` with `skos:broader`,
synonyms `skos:exactMatch` and `skos:altLabel`.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from .extras import require
from .models import (
    APPLICABLE,
    ATTRIBUTE_NODE_PREFIX,
    ATTRIBUTE_PREFIX,
    BROADER,
    IMPORTANCE_PREFIX,
    PRODUCT_TYPE,
    SAME_AS,
    TAXONOMY_PREFIX,
    TYPE_PREFIX,
    VALUE_PREFIX,
    Fact,
    node_label,
    product_id_of,
    product_subject,
    type_subject,
    value_subject,
)
from .store import Ledger

BASE = "https://shelfgraph.dev/kg/"


def fact_rows(ledger: Ledger, include_all: bool = False) -> list[dict[str, Any]]:
    """One flat dict per fact: id, triple, confidence, status and provenance fields."""
    rows = []
    for fact in ledger.facts(status=None if include_all else "active"):
        rows.append({"id": fact.id, "subject": fact.subject, "predicate": fact.predicate,
                     "object": fact.object, "confidence": fact.confidence, "status": fact.status,
                     **fact.provenance.model_dump()})
    return rows


def facts_table(ledger: Ledger, include_all: bool = False):
    """`fact_rows` as a pyarrow Table with a fixed schema, so an empty graph still has its columns."""
    import pyarrow as pa

    text, number = pa.string(), pa.int64()
    schema = pa.schema([("id", text), ("subject", text), ("predicate", text), ("object", text),
                        ("confidence", pa.float64()), ("status", text), ("step", text), ("method", text),
                        ("run_id", text), ("source_field", text), ("start", number), ("end", number),
                        ("model", text), ("prompt", text)])
    return pa.Table.from_pylist(fact_rows(ledger, include_all), schema=schema)


def _jsonl(ledger: Ledger, out: Path, include_all: bool) -> list[Path]:
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fact_rows(ledger, include_all)),
                   encoding="utf-8")
    return [out]


def _parquet(ledger: Ledger, out: Path, include_all: bool) -> list[Path]:
    import pyarrow.parquet as pq

    pq.write_table(facts_table(ledger, include_all), out)
    return [out]


def _turtle(ledger: Ledger, out: Path, include_all: bool) -> list[Path]:
    out.write_text(_escape_controls(to_rdf(ledger, include_all).serialize(format="turtle")), encoding="utf-8")
    return [out]


def _jsonld(ledger: Ledger, out: Path, include_all: bool) -> list[Path]:
    to_rdf(ledger, include_all).serialize(destination=str(out), format="json-ld")  # JSON escapes control characters
    return [out]


# Control characters but tab and newline: rdflib writes them raw into Turtle literals, where a
# NUL ends the text for many tools. They can only be in literals (IRIs are percent-encoded),
# where rdflib escapes every backslash, so `\uXXXX` always reads back as the same character.
_TURTLE_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape_controls(turtle: str) -> str:
    return _TURTLE_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04X}", turtle)


# ------------------------------------------------------------------ RDF
def _iri(kind: str, key: str) -> str:
    return f"{BASE}{kind}/{quote(key, safe='')}"


def node_iri(node_id: str) -> str:
    """IRI of a node id of the ledger: a type, a value or a product, each in its own namespace
    (a product id that looks like another node's is escaped: `models.product_subject`)."""
    for kind, prefix in (("type", TYPE_PREFIX), ("value", VALUE_PREFIX)):
        if node_id.startswith(prefix):
            return _iri(kind, node_id[len(prefix):])
    return _iri("product", product_id_of(node_id))


def _is_product_fact(fact: Fact) -> bool:
    """Facts about a product, told by their predicate, never by the look of the subject."""
    return fact.predicate == PRODUCT_TYPE or fact.predicate.startswith(ATTRIBUTE_PREFIX)


def to_rdf(ledger: Ledger, include_all: bool = False):
    require("rdf", "RDF export")
    from rdflib import BNode, Graph, Literal as Lit, Namespace, URIRef
    from rdflib.namespace import PROV, RDF, SKOS, XSD

    schema = Namespace("https://schema.org/")
    sg = Namespace(BASE + "ns#")
    g = Graph()
    for prefix, ns in (("schema", schema), ("skos", SKOS), ("sg", sg), ("prov", PROV)):
        g.bind(prefix, ns)

    for product in ledger.products():
        p = URIRef(_iri("product", product.id))
        g.add((p, RDF.type, schema.Product))
        g.add((p, schema.productID, Lit(product.id)))
        g.add((p, schema.name, Lit(product.title)))
        if product.description:
            g.add((p, schema.description, Lit(product.description)))
    for node in ledger.taxonomy_nodes():
        n = URIRef(_iri("taxonomy", node.id))
        g.add((n, RDF.type, SKOS.Concept))
        g.add((n, SKOS.prefLabel, Lit(node.name)))
        if node.parent:
            g.add((n, SKOS.broader, URIRef(_iri("taxonomy", node.parent))))

    def concept(subject: str, label: str) -> URIRef:
        c = URIRef(node_iri(subject))
        g.add((c, RDF.type, SKOS.Concept))
        g.add((c, SKOS.prefLabel, Lit(label)))
        return c

    for fact in ledger.facts(status=None if include_all else "active"):
        s = URIRef(_iri("product", product_id_of(fact.subject)) if _is_product_fact(fact)
                   else node_iri(fact.subject))
        if fact.predicate.startswith(ATTRIBUTE_PREFIX):
            value = BNode()
            g.add((s, schema.additionalProperty, value))
            g.add((value, RDF.type, schema.PropertyValue))
            g.add((value, schema.name, Lit(fact.predicate[len(ATTRIBUTE_PREFIX):])))
            g.add((value, schema.value, Lit(fact.object)))
            predicate, obj = schema.additionalProperty, value
        elif fact.predicate == PRODUCT_TYPE:
            obj = concept(type_subject(fact.object), fact.object)
            predicate = schema.category
        elif fact.predicate == BROADER:
            predicate, obj = SKOS.broader, URIRef(_iri("taxonomy", fact.object))
        elif fact.predicate == SAME_AS:
            predicate, obj = SKOS.exactMatch, URIRef(node_iri(fact.object))
            g.add((obj, SKOS.altLabel, Lit(node_label(fact.subject))))
        elif fact.predicate == APPLICABLE:
            predicate, obj = sg.applicableAttribute, Lit(fact.object)
        elif fact.predicate.startswith(IMPORTANCE_PREFIX):
            predicate, obj = sg.attributeImportance, BNode()
            g.add((obj, sg.attribute, Lit(fact.predicate[len(IMPORTANCE_PREFIX):])))
            g.add((obj, sg.score, Lit(float(fact.object), datatype=XSD.double)))
        else:
            predicate, obj = sg[quote(fact.predicate, safe="")], Lit(fact.object)
        if fact.status == "active":
            g.add((s, predicate, obj))
        _reify(g, fact, s, predicate, obj, sg, PROV, RDF, XSD, Lit, URIRef)
    return g


def _reify(g, fact: Fact, s, predicate, obj, sg, PROV, RDF, XSD, Lit, URIRef) -> None:
    statement = URIRef(_iri("fact", fact.id))
    p = fact.provenance
    g.add((statement, RDF.type, RDF.Statement))
    g.add((statement, RDF.subject, s))
    g.add((statement, RDF.predicate, predicate))
    g.add((statement, RDF.object, obj))
    g.add((statement, sg.status, Lit(fact.status)))
    if fact.confidence is not None:
        g.add((statement, sg.confidence, Lit(fact.confidence, datatype=XSD.double)))
    for name in ("step", "method", "model", "prompt", "source_field", "start", "end"):
        value = getattr(p, name)
        if value is not None:
            g.add((statement, sg[name], Lit(value)))
    g.add((statement, PROV.wasGeneratedBy, URIRef(_iri("run", p.run_id))))


# ------------------------------------------------------------------ Neo4j
_REL_FIELDS = ["confidence:float", "status", "step", "method", "model", "prompt", "source_field",
               "start:int", "end:int", "run_id", "fact_id"]


def _neo4j(ledger: Ledger, folder: Path, include_all: bool) -> list[Path]:
    """Node and relationship CSVs in neo4j-admin's import format (`:ID`, `:START_ID`...)."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes: dict[str, tuple[str, str]] = {}  # id -> (name, label)
    for product in ledger.products():
        nodes[product_subject(product.id)] = (product.title, "Product")
    for node in ledger.taxonomy_nodes():
        nodes[TAXONOMY_PREFIX + node.id] = (node.name, "Category")
    relationships = []
    for fact in ledger.facts(status=None if include_all else "active"):
        start, end, rel = _neo4j_edge(fact)
        for node_id, name, label in (start, end):
            nodes.setdefault(node_id, (name, label))
        p = fact.provenance
        relationships.append([start[0], end[0], rel, fact.confidence, fact.status, p.step, p.method, p.model,
                              p.prompt, p.source_field, p.start, p.end, p.run_id, fact.id])
    nodes_file, rels_file = folder / "nodes.csv", folder / "relationships.csv"
    with nodes_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id:ID", "name", ":LABEL"])
        writer.writerows([node_id, name, label] for node_id, (name, label) in nodes.items())
    with rels_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([":START_ID", ":END_ID", ":TYPE", *_REL_FIELDS])
        writer.writerows(["" if v is None else v for v in row] for row in relationships)
    return [nodes_file, rels_file]


_Node = tuple[str, str, str]  # id, name, label


def _neo4j_edge(fact: Fact) -> tuple[_Node, _Node, str]:
    """A fact as (start node, end node, relationship type). What each node is follows from the
    predicate, so a product never becomes a type, a value or a category."""
    predicate = fact.predicate
    if _is_product_fact(fact):
        product_id = product_id_of(fact.subject)
        start = (product_subject(product_id), product_id, "Product")
        if predicate == PRODUCT_TYPE:
            return start, (type_subject(fact.object), fact.object, "ProductType"), "HAS_TYPE"
        attribute = predicate[len(ATTRIBUTE_PREFIX):]
        return start, (value_subject(attribute, fact.object), fact.object, "Value"), "HAS_VALUE"
    start = _ledger_node(fact.subject)
    if predicate == BROADER:
        return start, (TAXONOMY_PREFIX + fact.object, fact.object, "Category"), predicate.upper()
    if predicate == APPLICABLE:
        return start, (ATTRIBUTE_NODE_PREFIX + fact.object, fact.object, "Attribute"), predicate.upper()
    if predicate.startswith(IMPORTANCE_PREFIX):
        attribute = predicate[len(IMPORTANCE_PREFIX):]
        return start, (ATTRIBUTE_NODE_PREFIX + attribute, attribute, "Attribute"), "IMPORTANCE"
    return start, _ledger_node(fact.object), predicate.upper()


def _ledger_node(node_id: str) -> _Node:
    """A type or value node of the ledger (synonyms, a type's relations) by its namespace."""
    label = ("ProductType" if node_id.startswith(TYPE_PREFIX) else
             "Value" if node_id.startswith(VALUE_PREFIX) else "Product")
    return node_id, node_label(node_id), label


Exporter = Callable[[Ledger, Path, bool], list[Path]]  # (ledger, out, include_all) -> files written
# The formats, by the name `export --format` takes: a new format is one entry here.
EXPORTERS: dict[str, Exporter] = {
    "turtle": _turtle,
    "jsonld": _jsonld,
    "jsonl": _jsonl,
    "neo4j-csv": _neo4j,
    "parquet": _parquet,
}


def export(ledger: Ledger, fmt: str, out: Path, include_all: bool = False) -> list[Path]:
    """Write the graph in `fmt` (a name of EXPORTERS) to `out` (a file; a folder for
    neo4j-csv); returns the files written."""
    if fmt not in EXPORTERS:
        raise ValueError(f"no export format {fmt!r} (valid: {', '.join(EXPORTERS)})")
    return EXPORTERS[fmt](ledger, out, include_all)
