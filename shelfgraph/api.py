"""The Python API: one graph in one SQLite file, and what a notebook or a script does with it.

    g = shelfgraph.open("graph.db")
    run = g.build("catalog.jsonl", taxonomy="taxonomy", labelled="labelled.jsonl", method="hybrid")
    g.ask("Which coffees are decaf?"); g.facts("demo-021"); g.products("coffee"); g.to_pandas()

The CLI's `build`, `ask`, `show`, `stats` and `export` are thin shells over these methods, so
a script and a terminal get the same behaviour from the same code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .context import LLMConfig
from .errors import UsageError
from .models import Fact, FactStatus, Product, Run, attribute_predicate, product_subject

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from .pipeline import BuildConfig
    from .qa import Answer, Session, TextSearchSource
    from .store import Ledger

PathLike = Union[str, "os.PathLike[str]"]
LLMLike = Union[str, LLMConfig]  # "local", an OpenAI-compatible server's URL, or a full config


def llm_settings(llm: LLMLike) -> LLMConfig:
    return llm if isinstance(llm, LLMConfig) else LLMConfig(backend=llm)


def _paths(value: PathLike | Sequence[PathLike] | None) -> list[Path]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    return [Path(v) for v in value]


class Graph:
    """A product knowledge graph stored at `path` (created on first write unless `read_only`).
    The connection opens on first use; `close()` it, or use the graph as a context manager."""

    def __init__(self, path: PathLike, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._ledger: Ledger | None = None

    def __repr__(self) -> str:
        return f"Graph({str(self.path)!r}{', read_only=True' if self.read_only else ''})"

    def __enter__(self) -> "Graph":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    @property
    def ledger(self) -> "Ledger":
        """The fact ledger underneath, for what the methods here do not cover."""
        if self._ledger is None:
            from .store import Ledger

            self._ledger = Ledger(self.path, read_only=self.read_only)
        return self._ledger

    # -- growing the graph -------------------------------------------------------------------
    def build(
        self, catalog: PathLike | Sequence[PathLike], *, taxonomy: PathLike | None = None,
        labelled: PathLike | Sequence[PathLike] | None = None, reviews: PathLike | Sequence[PathLike] | None = None,
        method: str | None = None, config: "PathLike | BuildConfig | None" = None, limit: int | None = None,
        workers: int | None = None, engine: str | None = None, llm: LLMLike = "local", progress: bool = False,
    ) -> Run:
        """Ingest `catalog` and run the six steps over its products (see `shelfgraph build`).
        `labelled`: products the steps learn from (default: the store's products that came with
        values); `config`: a TOML file or a BuildConfig, which `method`, `limit`, `workers` and
        `engine` override. Returns the finished run; `run.summary` says what grew, and
        `run.summary["rejected_rows"]` how many input rows were rejected (written beside the store)."""
        from .buildrun import run_build
        from .pipeline import BuildConfig

        if self.read_only:
            raise UsageError(f"{self.path} is open read-only; open it with shelfgraph.open(path) to build")
        overrides = {"method": method, "limit": limit, "workers": workers, "engine": engine}
        if isinstance(config, BuildConfig):
            settings = BuildConfig.model_validate({**config.model_dump(),
                                                   **{k: v for k, v in overrides.items() if v is not None}})
        else:
            settings = BuildConfig.from_toml(Path(config) if config is not None else None, **overrides)
        summary, _ = run_build(store=self.path, catalog=_paths(catalog),
                               taxonomy=Path(taxonomy) if taxonomy is not None else None,
                               reviews=_paths(reviews), labelled=_paths(labelled), config=settings,
                               llm=llm_settings(llm), quiet=not progress)
        from .store import Ledger

        with Ledger(self.path, read_only=True) as ledger:  # read-only: no integrity check, ~1 ms
            run = ledger.run(summary["run_id"])
        assert run is not None, f"run {summary['run_id']} was not recorded"
        return run

    # -- asking -------------------------------------------------------------------------------
    def session(self, *, llm: LLMLike | None = "local", texts: "TextSearchSource | None" = None) -> "Session":
        """A conversation with the graph (follow-up questions build on earlier answers).
        `llm=None` never loads a model; otherwise it is loaded only for a question with no cue word.
        `texts`: the search questions about product texts need, e.g.
        `shelfgraph.retrieval.index.text_search(path)` (the Chroma index `shelfgraph index` made)."""
        from .qa import Session

        def load_model() -> Any:
            from .llm import get_llm

            return get_llm(llm_settings(llm))  # type: ignore[arg-type]

        return Session(self.path, llm=None if llm is None else load_model, texts=texts)

    def ask(self, question: str, *, llm: LLMLike | None = "local",
            texts: "TextSearchSource | None" = None) -> "Answer":
        """Answer one question from the graph's facts: `answer.text`, `.product_ids`, `.citations`."""
        with self.session(llm=llm, texts=texts) as session:
            return session.ask(question)

    # -- reading ------------------------------------------------------------------------------
    def product(self, product_id: str) -> Product | None:
        return self.ledger.product(product_id)

    def products(self, product_type: str | None = None, *, where: Mapping[str, str] | None = None,
                 limit: int | None = None) -> list[Product]:
        """Products of a type (given in the catalogue or found by the build) having every
        `attribute: value` of `where` as an active fact (values compared case-insensitively)."""
        if product_type is None and not where:
            return list(self.ledger.products(limit=limit))
        ids: set[str] | None = set(self.ledger.product_ids_by_type(product_type)) if product_type else None
        for attribute, value in (where or {}).items():
            having = set(self.ledger.products_with_value(attribute, value))
            ids = having if ids is None else ids & having
        found = [self.ledger.product(i) for i in sorted(ids or ())]
        return [p for p in found if p is not None][:limit]

    def facts(self, product_id: str | None = None, *, attribute: str | None = None,
              status: FactStatus | None = "active") -> list[Fact]:
        """Facts with provenance (`fact.provenance`: step, method, model, prompt, run, source
        field and span), about one product or all; `status=None` includes rejected and retracted."""
        return self.ledger.facts(subject=product_subject(product_id) if product_id is not None else None,
                                 predicate=attribute_predicate(attribute) if attribute is not None else None,
                                 status=status)

    def stats(self) -> dict[str, Any]:
        return self.ledger.stats()

    def runs(self, limit: int = 20) -> list[Run]:
        return self.ledger.runs(limit)

    # -- tables and files ---------------------------------------------------------------------
    def to_arrow(self, *, all_statuses: bool = False) -> "pyarrow.Table":
        """Every active fact (all of them with `all_statuses`) with its provenance, one row each."""
        from .export import facts_table

        return facts_table(self.ledger, include_all=all_statuses)

    def to_pandas(self, *, all_statuses: bool = False) -> "pandas.DataFrame":
        """`to_arrow()` as a pandas DataFrame (pandas is not a dependency: `pip install pandas`)."""
        try:
            import pandas  # noqa: F401
        except ImportError as error:
            raise ImportError("Graph.to_pandas needs pandas: pip install pandas (or use to_arrow())") from error
        return self.to_arrow(all_statuses=all_statuses).to_pandas()

    def export(self, format: str, out: PathLike, *, all_statuses: bool = False) -> list[Path]:
        """Write the graph as turtle, jsonld, jsonl, neo4j-csv (a folder) or parquet (the names of
        `export.EXPORTERS`); returns the files."""
        from .export import export

        return export(self.ledger, format, Path(out), include_all=all_statuses)


def open(path: PathLike, *, read_only: bool = False) -> Graph:  # noqa: A001 - the API's verb, like sqlite3.connect
    """The graph stored at `path`; see `Graph`."""
    return Graph(path, read_only=read_only)
