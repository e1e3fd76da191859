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
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from .models import (
    APPLICABLE,
    ATTRIBUTE_PREFIX,
    BROADER,
    IMPORTANCE_PREFIX,
    PRODUCT_TYPE,
    SAME_AS,
    Fact,
    type_subject,
)
from .store import Ledger

ExportFormat = Literal["turtle", "jsonld", "jsonl", "neo4j-csv", "parquet"]
BASE = "https://shelfgraph.dev/kg/"


def fact_rows(ledger: Ledger, include_all: bool = False) -> list[dict[str, Any]]:
    """One flat dict per fact: id, triple, confidence, status and provenance fields."""
    rows = []
    for fact in ledger.facts(status=None if include_all else "active"):
        rows.append({"id": fact.id, "subject": fact.subject, "predicate": fact.predicate,
                     "object": fact.object, "confidence": fact.confidence, "status": fact.status,
                     **fact.provenance.model_dump()})
    return rows


def export(ledger: Ledger, fmt: ExportFormat, out: Path, include_all: bool = False) -> list[Path]:
    """Write the graph in `fmt` to `out` (a file; a folder for neo4j-csv); returns files written."""
    if fmt == "jsonl":
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fact_rows(ledger, include_all)),
                       encoding="utf-8")
        return [out]
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(fact_rows(ledger, include_all)), out)
        return [out]
    if fmt == "neo4j-csv":
        return _neo4j(ledger, out, include_all)
    graph = to_rdf(ledger, include_all)
    graph.serialize(destination=str(out), format="turtle" if fmt == "turtle" else "json-ld")
    return [out]


# ------------------------------------------------------------------ RDF
def _iri(kind: str, key: str) -> str:
    return f"{BASE}{kind}/{quote(key, safe='')}"


def node_iri(subject: str) -> str:
    """IRI of a fact's subject/object node id: products, types, values, taxonomy nodes."""
    kind, sep, rest = subject.partition(":")
    if sep and kind in ("type", "value"):
        return _iri(kind, rest)
    return _iri("product", subject)


def to_rdf(ledger: Ledger, include_all: bool = False):
    from rdflib import BNode, Graph, Literal as Lit, Namespace, URIRef
    from rdflib.namespace import PROV, RDF, SKOS, XSD

    schema = Namespace("https://schema.org/")
    sg = Namespace(BASE + "ns#")
    g = Graph()
    for prefix, ns in (("schema", schema), ("skos", SKOS), ("sg", sg), ("prov", PROV)):
        g.bind(prefix, ns)

    for product in ledger.products():
        p = URIRef(node_iri(product.id))
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
        s = URIRef(node_iri(fact.subject))
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
            g.add((obj, SKOS.altLabel, Lit(fact.subject.split(":")[-1])))
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
        nodes[product.id] = (product.title, "Product")
    for node in ledger.taxonomy_nodes():
        nodes[f"taxonomy:{node.id}"] = (node.name, "Category")
    relationships = []
    for fact in ledger.facts(status=None if include_all else "active"):
        start, rel = fact.subject, fact.predicate.upper()
        if fact.predicate.startswith(ATTRIBUTE_PREFIX):
            attribute = fact.predicate[len(ATTRIBUTE_PREFIX):]
            end, rel = f"value:{attribute}:{fact.object}", "HAS_VALUE"
            nodes.setdefault(end, (fact.object, "Value"))
        elif fact.predicate == PRODUCT_TYPE:
            end, rel = type_subject(fact.object), "HAS_TYPE"
            nodes.setdefault(end, (fact.object, "ProductType"))
        elif fact.predicate == BROADER:
            end = f"taxonomy:{fact.object}"
        elif fact.predicate == APPLICABLE:
            end = f"attribute:{fact.object}"
            nodes.setdefault(end, (fact.object, "Attribute"))
        elif fact.predicate.startswith(IMPORTANCE_PREFIX):
            end, rel = f"attribute:{fact.predicate[len(IMPORTANCE_PREFIX):]}", "IMPORTANCE"
            nodes.setdefault(end, (end.split(":", 1)[1], "Attribute"))
        else:
            end = fact.object
        for node_id in (start, end):
            kind = node_id.split(":", 1)[0]
            nodes.setdefault(node_id, (node_id.split(":")[-1], {"type": "ProductType", "value": "Value"}
                                       .get(kind, "Node")))
        p = fact.provenance
        relationships.append([start, end, rel, fact.confidence, fact.status, p.step, p.method, p.model,
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
