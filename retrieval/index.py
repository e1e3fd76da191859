"""The Chroma store that gives agents their context, kept beside the graph.

Four collections, all in cosine space, all embedded with the packaged MiniLM:
`products` (title + description), `chunks` (sentences of descriptions, reviews and Q&A with
their offsets), `examples` (labelled training records, gold values in metadata) and
`taxonomy` (node name + path). Record ids are content hashes, so indexing is incremental:
what is already stored under the same id is not embedded again, and the stale records of an
owner (a product, a taxonomy node) whose content changed are deleted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple, Sequence
from urllib.parse import urlparse

import numpy as np
from pydantic import BaseModel

from shelfgraph.context import StepContext, shelfgraph_home
from shelfgraph.models import Product, TaxonomyNode, content_hash, normalise_label

from .chunks import Chunk, product_chunks
from .embeddings import embed, embedding_function, mmr

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

COLLECTIONS = ("products", "chunks", "examples", "taxonomy")
# Metadata key naming the record's owner: stale records are found and deleted through it.
OWNER_KEY = {"products": "product_id", "chunks": "product_id", "examples": "product_id", "taxonomy": "node_id"}
EMBED_BATCH = 512  # texts embedded (and added) per round; Chroma's own limit is larger
OWNERS_PER_LOOKUP = 500
DESCRIPTION_CHARS = 1000  # MiniLM reads 256 word pieces at most: longer text is wasted work


class IndexCounts(BaseModel):
    """How many new or changed records each collection took in one indexing run (0 when unchanged)."""

    products: int = 0
    chunks: int = 0
    examples: int = 0
    taxonomy: int = 0


class _Record(NamedTuple):
    id: str
    owner: str
    document: str
    metadata: dict[str, Any]


def product_text(product: Product) -> str:
    """What a product is embedded as: its title, then the start of its description."""
    if not product.description:
        return product.title
    return f"{product.title}\n{product.description[:DESCRIPTION_CHARS]}"


def index_beside(store: Path) -> Path:
    """Where a graph's Chroma folder lives by default: `graph.db` -> `graph.db.chroma/`."""
    return store.with_name(store.name + ".chroma")


def product_record_id(product: Product) -> str:
    return "product:" + content_hash([product.id, product_text(product), product.product_type])[:32]


def taxonomy_paths(nodes: Sequence[TaxonomyNode]) -> dict[str, list[str]]:
    """Names from the root down to each node (a missing parent ends the path)."""
    by_id = {node.id: node for node in nodes}
    paths: dict[str, list[str]] = {}
    for node in nodes:
        names, seen, current = [], set(), node
        while current is not None and current.id not in seen:
            seen.add(current.id)
            names.append(current.name)
            current = by_id.get(current.parent) if current.parent else None
        paths[node.id] = names[::-1]
    return paths


class CatalogIndex:
    """Products, evidence chunks, labelled examples and taxonomy nodes, searchable by meaning."""

    def __init__(self, client: "ClientAPI", location: str) -> None:
        self.client = client
        self.location = location
        ef = embedding_function()
        self._collections = {
            name: client.get_or_create_collection(
                name, embedding_function=ef, configuration={"hnsw": {"space": "cosine"}}
            )
            for name in COLLECTIONS
        }

    @classmethod
    def open(cls, path: Path | None = None, url: str | None = None) -> "CatalogIndex":
        """A persistent store in `path` (default `$SHELFGRAPH_HOME/index`), or a Chroma server
        at `url` (http[s]://host:port) when several processes write at once."""
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if url is not None:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"--chroma-url must look like http://host:8000, got {url!r}")
            ssl = parsed.scheme == "https"
            client = chromadb.HttpClient(
                host=parsed.hostname, port=parsed.port or (443 if ssl else 8000), ssl=ssl, settings=settings
            )
            return cls(client, url)
        path = Path(path) if path is not None else shelfgraph_home() / "index"
        path.mkdir(parents=True, exist_ok=True)
        return cls(chromadb.PersistentClient(path=str(path), settings=settings), str(path))

    @classmethod
    def from_context(cls, context: StepContext) -> "CatalogIndex":
        return cls.open(path=context.index_dir, url=context.chroma_url)

    def collection(self, name: str) -> "Collection":
        if name not in self._collections:
            raise KeyError(f"no collection {name!r}; collections are {', '.join(COLLECTIONS)}")
        return self._collections[name]

    def counts(self) -> dict[str, int]:
        return {name: collection.count() for name, collection in self._collections.items()}

    # --- indexing -------------------------------------------------------------------------

    def index_products(self, products: Iterable[Product]) -> int:
        """Embed new or changed products (title + description); returns how many there were."""
        products = _unique(products)
        records = [
            _Record(
                id=product_record_id(p),
                owner=p.id,
                document=product_text(p),
                metadata=_type_metadata(p) | {"product_id": p.id},
            )
            for p in products
        ]
        return self._sync("products", records, [p.id for p in products])

    def index_chunks(self, products: Iterable[Product]) -> int:
        """Embed new sentence chunks of descriptions, reviews and Q&A; returns how many."""
        products = _unique(products)
        records = [
            _Record(
                id=chunk.id,
                owner=chunk.product_id,
                document=chunk.text,
                metadata={"product_id": chunk.product_id, "field": chunk.field, "start": chunk.start, "end": chunk.end},
            )
            for product in products
            for chunk in product_chunks(product)
        ]
        return self._sync("chunks", records, [p.id for p in products])

    def index_examples(self, products: Iterable[Product]) -> int:
        """Add labelled training records (products with gold attribute values) as few-shot
        demonstrations; products without attributes are skipped. A product already in
        `products` with the same text lends its vector instead of being embedded again.
        Returns how many records were added."""
        products = [p for p in _unique(products) if p.attributes]
        records = []
        lender: dict[str, str] = {}  # example record id -> product record id with the same text
        for p in products:
            example = p.model_dump(include={"id", "title", "description", "product_type", "attributes"})
            example_id = "example:" + content_hash(example)[:32]
            lender[example_id] = product_record_id(p)
            records.append(
                _Record(
                    id=example_id,
                    owner=p.id,
                    document=product_text(p),
                    metadata=_type_metadata(p)
                    | {
                        "product_id": p.id,
                        "title": p.title,
                        "description": p.description,
                        "attributes": json.dumps(p.attributes, ensure_ascii=False, sort_keys=True),
                    },
                )
            )

        def stored_vectors(batch: list[_Record]) -> dict[str, np.ndarray]:
            found = self._collections["products"].get(ids=[lender[r.id] for r in batch], include=["embeddings"])
            by_product = dict(zip(found["ids"], found["embeddings"]))
            return {r.id: by_product[lender[r.id]] for r in batch if lender[r.id] in by_product}

        return self._sync("examples", records, [p.id for p in products], stored_vectors)

    def index_taxonomy(self, nodes: Sequence[TaxonomyNode]) -> int:
        """Embed new or changed taxonomy nodes as "name: root > ... > name"; returns how many."""
        nodes = list({node.id: node for node in nodes}.values())
        paths = taxonomy_paths(nodes)
        records = []
        for node in nodes:
            text = f"{node.name}: {' > '.join(paths[node.id])}"
            records.append(
                _Record(
                    id="node:" + content_hash([node.id, text])[:32],
                    owner=node.id,
                    document=text,
                    metadata={"node_id": node.id, "name": node.name, "path": " > ".join(paths[node.id])},
                )
            )
        return self._sync("taxonomy", records, [node.id for node in nodes])

    def _sync(
        self,
        name: str,
        records: list[_Record],
        owners: list[str],
        stored_vectors: Callable[[list[_Record]], dict[str, np.ndarray]] | None = None,
    ) -> int:
        """Make the collection hold exactly `records` for these owners: add the missing ones,
        delete the owners' other records. New records are embedded unless `stored_vectors`
        already has their vectors. Returns how many records were added."""
        collection = self._collections[name]
        wanted = {record.id: record for record in records}
        existing: set[str] = set()
        for start in range(0, len(owners), OWNERS_PER_LOOKUP):
            batch = owners[start : start + OWNERS_PER_LOOKUP]
            found = collection.get(where={OWNER_KEY[name]: {"$in": batch}}, include=[])
            existing.update(found["ids"])
        stale = sorted(existing - wanted.keys())
        limit = self.client.get_max_batch_size()
        for start in range(0, len(stale), limit):
            collection.delete(ids=stale[start : start + limit])
        new = [record for record_id, record in wanted.items() if record_id not in existing]
        step = min(EMBED_BATCH, limit)
        for start in range(0, len(new), step):
            batch = new[start : start + step]
            known = stored_vectors(batch) if stored_vectors else {}
            missing = [r for r in batch if r.id not in known]
            known.update(zip((r.id for r in missing), embed([r.document for r in missing])))
            collection.add(
                ids=[r.id for r in batch],
                embeddings=np.array([known[r.id] for r in batch], dtype=np.float32),
                documents=[r.document for r in batch],
                metadatas=[r.metadata for r in batch],
            )
        return len(new)

    # --- queries ---------------------------------------------------------------------------

    def similar_examples(
        self, product: Product, k: int = 5, same_type_first: bool = True, mmr_lambda: float = 0.5
    ) -> list[Product]:
        """`k` labelled examples to show as demonstrations for `product`: close to it, different
        from each other (MMR), of its own product type first; never the product itself."""
        query = embed([product_text(product)])[0]
        pool = max(4 * k, 20)
        chosen: list[Product] = []
        filters: list[dict[str, Any] | None] = [None]
        if same_type_first and product.product_type:
            filters.insert(0, {"type_key": normalise_label(product.product_type)})
        for where in filters:
            if len(chosen) >= k:
                break
            taken = {p.id for p in chosen} | {product.id}
            hits = self._query("examples", query, pool + len(taken), where, include_embeddings=True)
            hits = [hit for hit in hits if hit["metadata"]["product_id"] not in taken]
            picks = mmr(query, np.array([hit["embedding"] for hit in hits]), k - len(chosen), mmr_lambda)
            chosen.extend(_example_product(hits[i]["metadata"]) for i in picks)
        return chosen

    def evidence(self, product_id: str, attribute: str, k: int = 3, query: str | None = None) -> list[Chunk]:
        """The `k` sentences of a product's description, reviews and Q&A closest to the attribute
        (or to `query`, e.g. "attribute: candidate value"), with their source offsets."""
        hits = self._query("chunks", embed([query or attribute])[0], k, {"product_id": product_id})
        return [
            Chunk(
                id=hit["id"],
                product_id=product_id,
                field=hit["metadata"]["field"],
                start=hit["metadata"]["start"],
                end=hit["metadata"]["end"],
                text=hit["document"],
                score=hit["score"],
            )
            for hit in hits
        ]

    def taxonomy_candidates(self, type_name: str, k: int = 10) -> list[tuple[str, float]]:
        """Taxonomy node ids most similar to a product type name, with cosine scores."""
        hits = self._query("taxonomy", embed([type_name])[0], k)
        return [(hit["metadata"]["node_id"], hit["score"]) for hit in hits]

    def similar_products(self, product: Product | str, k: int = 10) -> list[tuple[str, float]]:
        """Indexed products closest to a product (itself excluded) or to a text."""
        own_id = product.id if isinstance(product, Product) else None
        text = product_text(product) if isinstance(product, Product) else product
        hits = self._query("products", embed([text])[0], k + (own_id is not None))
        return [(hit["metadata"]["product_id"], hit["score"]) for hit in hits if hit["metadata"]["product_id"] != own_id][:k]

    def _query(
        self,
        name: str,
        vector: np.ndarray,
        n: int,
        where: dict[str, Any] | None = None,
        include_embeddings: bool = False,
    ) -> list[dict[str, Any]]:
        collection = self._collections[name]
        n = min(n, collection.count())
        if n <= 0:
            return []
        include = ["metadatas", "documents", "distances"] + (["embeddings"] if include_embeddings else [])
        result = collection.query(query_embeddings=[vector], n_results=n, where=where, include=include)
        hits = []
        for i, record_id in enumerate(result["ids"][0]):
            hit = {
                "id": record_id,
                "metadata": result["metadatas"][0][i],
                "document": result["documents"][0][i],
                "score": 1.0 - float(result["distances"][0][i]),
            }
            if include_embeddings:
                hit["embedding"] = result["embeddings"][0][i]
            hits.append(hit)
        return hits


def _unique(products: Iterable[Product]) -> list[Product]:
    """One product per id, the last one given winning."""
    return list({p.id: p for p in products}.values())


def _type_metadata(product: Product) -> dict[str, str]:
    if not product.product_type:
        return {}
    return {"product_type": product.product_type, "type_key": normalise_label(product.product_type)}


def _example_product(metadata: dict[str, Any]) -> Product:
    return Product(
        id=metadata["product_id"],
        title=metadata["title"],
        description=metadata.get("description", ""),
        product_type=metadata.get("product_type"),
        attributes=json.loads(metadata["attributes"]),
    )
