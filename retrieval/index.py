"""The Chroma store that gives agents their context, kept beside the graph.

Four collections, all in cosine space, all embedded with the packaged MiniLM:
`products` (title + description), `chunks` (sentences of descriptions, reviews and Q&A with
their offsets), `examples` (labelled training records, gold values in metadata) and
`taxonomy` (node name + path). Record ids are content hashes, so indexing is incremental:
what is already stored under the same id is not embedded again, and the stale records of an
owner (a product, a taxonomy node) whose content changed are deleted.

Examples and taxonomy nodes belong to a *set* (`scope`): by default the content hash of the
training set or taxonomy indexed. Queries read one set only, exactly (every vector of the set,
not an approximate graph search), so what other runs indexed in a shared folder never changes
what a run retrieves: the same inputs give the same demonstrations and candidates in any home.
A record in two sets is stored twice but embedded once.

Processes share a folder by taking turns, one operation at a time (`retrieval.folder`);
`chroma_url` (a Chroma server) is the way for many processes writing at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple, Sequence
from urllib.parse import urlparse

import numpy as np
from pydantic import BaseModel

from shelfgraph.context import StepContext, index_beside, shelfgraph_home
from shelfgraph.models import Product, TaxonomyNode, content_hash, normalise_label, path_names

from .chunks import Chunk, product_chunks
from .embeddings import DIMENSIONS, embed, embedding_function, mmr
from .folder import ChromaFolder, ChromaServer

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

COLLECTIONS = ("products", "chunks", "examples", "taxonomy")
SCOPE_KEY = "set"  # metadata: the set (training set, taxonomy) an example or node record belongs to
CONTENT_KEY = "content"  # metadata: the record's content hash, the same in every set (its vector is too)
# Metadata key naming the record's owner: stale records are found and deleted through it.
OWNER_KEY = {"products": "product_id", "chunks": "product_id", "examples": SCOPE_KEY, "taxonomy": SCOPE_KEY}
EMBED_BATCH = 512  # records looked up (and added) per round; Chroma's own limit is larger
OWNERS_PER_LOOKUP = 500
GET_PAGE = 5000  # records read per `get`
DESCRIPTION_CHARS = 1000  # MiniLM reads 256 word pieces at most: longer text is wasted work


class IndexCounts(BaseModel):
    """How many new or changed records each collection took in one indexing run (0 when unchanged)."""

    products: int = 0
    chunks: int = 0
    examples: int = 0
    taxonomy: int = 0


@dataclass
class _Members:
    """The records of one set: a unit vector per row, and their metadata."""

    vectors: np.ndarray
    metadatas: list[dict[str, Any]]
    _columns: dict[str, np.ndarray] = field(default_factory=dict)

    def column(self, key: str) -> np.ndarray:
        """One metadata field of every record (None where absent), built on first use."""
        if key not in self._columns:
            self._columns[key] = np.array([m.get(key) for m in self.metadatas], dtype=object)
        return self._columns[key]


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


def product_record_id(product: Product) -> str:
    return "product:" + content_hash([product.id, product_text(product), product.product_type])[:32]


def examples_set(products: Iterable[Product]) -> str:
    """The scope a training set is indexed under by default: a hash of its labelled examples."""
    return _set_id("examples", [content for _, content in _example_contents(products)])


def taxonomy_set(nodes: Sequence[TaxonomyNode]) -> str:
    """The scope a taxonomy is indexed under by default: a hash of its nodes and their paths."""
    return _set_id("taxonomy", [content for *_, content in _node_contents(nodes)])


def _set_id(kind: str, contents: list[str]) -> str:
    return f"{kind}:{content_hash(sorted(contents))[:16]}"


def _example_contents(products: Iterable[Product]) -> list[tuple[Product, str]]:
    """The labelled products (one per id) with the hash of what a demonstration shows of them."""
    labelled = [p for p in _unique(products) if p.attributes]
    return [(p, content_hash(p.model_dump(include={"id", "title", "description", "product_type", "attributes"}))[:32])
            for p in labelled]


def _node_contents(nodes: Sequence[TaxonomyNode]) -> list[tuple[TaxonomyNode, str, str]]:
    """Each node (one per id) with its path "root > ... > name" and the hash of its text."""
    nodes = list({node.id: node for node in nodes}.values())
    paths = taxonomy_paths(nodes)
    found = []
    for node in nodes:
        path = " > ".join(paths[node.id])
        found.append((node, path, content_hash([node.id, f"{node.name}: {path}"])[:32]))
    return found


def taxonomy_paths(nodes: Sequence[TaxonomyNode]) -> dict[str, list[str]]:
    """Names from the root down to each node (a missing parent ends the path)."""
    by_id = {node.id: node for node in nodes}
    return {node.id: path_names(node, by_id) for node in nodes}


class CatalogIndex:
    """Products, evidence chunks, labelled examples and taxonomy nodes, searchable by meaning."""

    def __init__(self, store: "ChromaFolder | ChromaServer", location: str) -> None:
        self._store = store
        self.location = location
        self._embedding_function = embedding_function()
        self._bound: tuple["ClientAPI", dict[str, "Collection"]] | None = None  # a client and its collections
        self._sets: dict[tuple[str, str], _Members] = {}  # (collection, scope) -> its records

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
            return cls(ChromaServer(client), url)
        path = Path(path) if path is not None else shelfgraph_home() / "index"
        path.mkdir(parents=True, exist_ok=True)
        folder = ChromaFolder.of(path, lambda p: chromadb.PersistentClient(path=str(p), settings=settings))
        return cls(folder, str(path))

    @classmethod
    def from_context(cls, context: StepContext) -> "CatalogIndex":
        return cls.open(path=context.index_dir, url=context.chroma_url)

    @contextmanager
    def _session(self) -> Iterator[dict[str, "Collection"]]:
        """The collections, for one operation on an up-to-date client (see `retrieval.folder`)."""
        with self._store.session() as client:
            if self._bound is None or self._bound[0] is not client:
                self._bound = (client, {
                    name: client.get_or_create_collection(
                        name, embedding_function=self._embedding_function, configuration={"hnsw": {"space": "cosine"}}
                    )
                    for name in COLLECTIONS
                })
            yield self._bound[1]

    @property
    def client(self) -> "ClientAPI":
        with self._session():
            return self._bound[0]  # type: ignore[index]

    def collection(self, name: str) -> "Collection":
        """A collection to inspect (outside the folder's lock: not while other processes write)."""
        if name not in COLLECTIONS:
            raise KeyError(f"no collection {name!r}; collections are {', '.join(COLLECTIONS)}")
        with self._session() as collections:
            return collections[name]

    def counts(self) -> dict[str, int]:
        with self._session() as collections:
            return {name: collection.count() for name, collection in collections.items()}

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

    def index_examples(self, products: Iterable[Product], scope: str | None = None) -> int:
        """Add labelled training records (products with gold attribute values) as few-shot
        demonstrations of the set `scope` (default: `examples_set(products)`); products without
        attributes are skipped. A vector already stored for the same text (the product in
        `products`, the example in another set) is reused instead of embedding it again.
        Returns how many records were added."""
        contents = _example_contents(products)
        scope = scope or _set_id("examples", [content for _, content in contents])
        records = []
        lender: dict[str, str] = {}  # example record id -> product record id with the same text
        for p, content in contents:
            example_id = "example:" + content_hash([scope, content])[:32]
            lender[example_id] = product_record_id(p)
            records.append(
                _Record(
                    id=example_id,
                    owner=scope,
                    document=product_text(p),
                    metadata=_type_metadata(p)
                    | {
                        SCOPE_KEY: scope,
                        CONTENT_KEY: content,
                        "product_id": p.id,
                        "title": p.title,
                        "description": p.description,
                        "attributes": json.dumps(p.attributes, ensure_ascii=False, sort_keys=True),
                    },
                )
            )

        def stored_vectors(collections: dict[str, "Collection"], batch: list[_Record]) -> dict[str, np.ndarray]:
            found = collections["products"].get(ids=[lender[r.id] for r in batch], include=["embeddings"])
            by_product = dict(zip(found["ids"], found["embeddings"]))
            return {r.id: by_product[lender[r.id]] for r in batch if lender[r.id] in by_product}

        return self._sync("examples", records, [scope], stored_vectors)

    def index_taxonomy(self, nodes: Sequence[TaxonomyNode], scope: str | None = None) -> int:
        """Embed the nodes of the taxonomy `scope` (default: `taxonomy_set(nodes)`) as
        "name: root > ... > name"; returns how many were new."""
        contents = _node_contents(nodes)
        scope = scope or _set_id("taxonomy", [content for *_, content in contents])
        records = [
            _Record(
                id="node:" + content_hash([scope, content])[:32],
                owner=scope,
                document=f"{node.name}: {path}",
                metadata={SCOPE_KEY: scope, CONTENT_KEY: content, "node_id": node.id, "name": node.name, "path": path},
            )
            for node, path, content in contents
        ]
        return self._sync("taxonomy", records, [scope])

    def _sync(
        self,
        name: str,
        records: list[_Record],
        owners: list[str],
        stored_vectors: Callable[[dict[str, "Collection"], list[_Record]], dict[str, np.ndarray]] | None = None,
    ) -> int:
        """Make the collection hold exactly `records` for these owners: add the missing ones,
        delete the owners' other records. New records are embedded unless a record of another
        set with the same content, or `stored_vectors`, already has their vectors; embedding
        happens outside the folder's lock. Returns how many records were added."""
        wanted = {record.id: record for record in records}
        scoped = OWNER_KEY[name] == SCOPE_KEY
        known: dict[str, np.ndarray] = {}
        with self._session() as collections:
            collection, limit = collections[name], self.client.get_max_batch_size()
            existing: set[str] = set()
            for start in range(0, len(owners), OWNERS_PER_LOOKUP):
                batch = owners[start : start + OWNERS_PER_LOOKUP]
                existing.update(_get_all(collection, {OWNER_KEY[name]: {"$in": batch}}, [])["ids"])
            stale = sorted(existing - wanted.keys())
            for start in range(0, len(stale), limit):
                collection.delete(ids=stale[start : start + limit])
                self._store.changed()
            new = [record for record_id, record in wanted.items() if record_id not in existing]
            for start in range(0, len(new), EMBED_BATCH):
                batch = new[start : start + EMBED_BATCH]
                known.update(_same_content_vectors(collection, batch) if scoped else {})
                rest = [r for r in batch if r.id not in known]
                if stored_vectors and rest:
                    known.update(stored_vectors(collections, rest))
        missing = [r for r in new if r.id not in known]
        known.update(zip((r.id for r in missing), embed([r.document for r in missing])))
        added = 0
        with self._session() as collections:
            collection, step = collections[name], min(EMBED_BATCH, self.client.get_max_batch_size())
            for start in range(0, len(new), step):
                batch = new[start : start + step]
                present = set(collection.get(ids=[r.id for r in batch], include=[])["ids"])  # by another process
                batch = [r for r in batch if r.id not in present]
                if batch:
                    collection.add(
                        ids=[r.id for r in batch],
                        embeddings=np.array([known[r.id] for r in batch], dtype=np.float32),
                        documents=[r.document for r in batch],
                        metadatas=[r.metadata for r in batch],
                    )
                    self._store.changed()
                    added += len(batch)
        if scoped:  # the set may have changed: read it again on its next query
            for owner in owners:
                self._sets.pop((name, owner), None)
        return added

    # --- queries ---------------------------------------------------------------------------

    def similar_examples(
        self, product: Product, k: int = 5, same_type_first: bool = True, mmr_lambda: float = 0.5, *, scope: str
    ) -> list[Product]:
        """`k` labelled examples of the set `scope` to show as demonstrations for `product`:
        close to it, different from each other (MMR), of its own product type first; never the
        product itself."""
        members = self._members("examples", scope)
        query = embed([product_text(product)])[0]
        order = np.argsort(-(members.vectors @ query), kind="stable")  # most similar first; ties by id
        pool = max(4 * k, 20)
        chosen: list[int] = []
        groups: list[str | None] = [None]
        if same_type_first and product.product_type:
            groups.insert(0, normalise_label(product.product_type))
        for type_key in groups:
            if len(chosen) >= k:
                break
            allowed = members.column("product_id") != product.id  # a set holds each product once
            allowed[chosen] = False
            if type_key is not None:
                allowed &= members.column("type_key") == type_key
            hits = order[allowed[order]][:pool]
            picks = mmr(query, members.vectors[hits], k - len(chosen), mmr_lambda)
            chosen.extend(int(hits[i]) for i in picks)
        return [_example_product(members.metadatas[i]) for i in chosen]

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

    def taxonomy_candidates(self, type_name: str, k: int = 10, *, scope: str) -> list[tuple[str, float]]:
        """Node ids of the taxonomy `scope` most similar to a product type name, with cosine scores."""
        members = self._members("taxonomy", scope)
        scores = members.vectors @ embed([type_name])[0]
        top = np.argsort(-scores, kind="stable")[:k]
        return [(members.metadatas[i]["node_id"], float(scores[i])) for i in top]

    def similar_products(self, product: Product | str, k: int = 10) -> list[tuple[str, float]]:
        """Indexed products closest to a product (itself excluded) or to a text."""
        own_id = product.id if isinstance(product, Product) else None
        text = product_text(product) if isinstance(product, Product) else product
        hits = self._query("products", embed([text])[0], k + (own_id is not None))
        return [(hit["metadata"]["product_id"], hit["score"]) for hit in hits if hit["metadata"]["product_id"] != own_id][:k]

    def _members(self, name: str, scope: str) -> "_Members":
        """Every record of one set, sorted by id: read once, then searched exactly in memory."""
        if (name, scope) not in self._sets:
            with self._session() as collections:
                found = _get_all(collections[name], {SCOPE_KEY: scope}, ["embeddings", "metadatas"])
            order = sorted(range(len(found["ids"])), key=found["ids"].__getitem__)
            vectors = np.zeros((len(order), DIMENSIONS), dtype=np.float32)
            if order:
                vectors = np.asarray(found["embeddings"], dtype=np.float32)[order]
            self._sets[(name, scope)] = _Members(vectors, [found["metadatas"][i] for i in order])
        return self._sets[(name, scope)]

    def _query(
        self, name: str, vector: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        with self._session() as collections:
            collection = collections[name]
            n = min(n, collection.count())
            if n <= 0:
                return []
            result = collection.query(query_embeddings=[vector], n_results=n, where=where,
                                      include=["metadatas", "documents", "distances"])
        return [
            {"id": record_id, "metadata": result["metadatas"][0][i], "document": result["documents"][0][i],
             "score": 1.0 - float(result["distances"][0][i])}
            for i, record_id in enumerate(result["ids"][0])
        ]


def text_search(store: Path, index_dir: Path | None = None) -> Callable[[], CatalogIndex | None]:
    """The search a question session uses for questions about product texts (`qa.TextSearch`):
    the Chroma folder `index_dir` (default: beside the store), opened once it exists."""
    folder = index_dir or index_beside(store)
    return lambda: CatalogIndex.open(path=folder) if folder.is_dir() else None


def _same_content_vectors(collection: "Collection", batch: list[_Record]) -> dict[str, np.ndarray]:
    """Vectors of records of other sets with the same content, by the id of the new record."""
    contents = sorted({r.metadata[CONTENT_KEY] for r in batch})
    found = _get_all(collection, {CONTENT_KEY: {"$in": contents}}, ["embeddings", "metadatas"])
    by_content = {m[CONTENT_KEY]: vector for m, vector in zip(found["metadatas"], found["embeddings"])}
    return {r.id: by_content[r.metadata[CONTENT_KEY]] for r in batch if r.metadata[CONTENT_KEY] in by_content}


def _get_all(collection: "Collection", where: dict[str, Any], include: list[str]) -> dict[str, list[Any]]:
    """Every record matching `where`, a page at a time (one `get` of 100k records failed:
    SQLite's limit on the variables of one statement)."""
    found: dict[str, list[Any]] = {"ids": [], **{key: [] for key in include}}
    while True:
        page = collection.get(where=where, include=include, limit=GET_PAGE, offset=len(found["ids"]))
        for key, values in found.items():
            values.extend(page[key])
        if len(page["ids"]) < GET_PAGE:
            return found


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
