"""The build as a plain function: ingest the batch, run the pipeline, save the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .context import LLMConfig, StepContext, index_beside
from .ingest import (TAXONOMY_FORMATS, BatchIds, RejectedRow, detect_format, ingest_paths, read_products,
                     rejected_rows_path, write_rejected)
from .models import Product
from .pipeline import Build, BuildConfig
from .progress import progress_bar
from .store import Ledger


def read_labelled(paths: list[Path]) -> list[Product]:
    products = []
    for path in paths:
        products += [p for p in read_products(path, detect_format(path)) if not isinstance(p, RejectedRow)]
    return products


def run_build(store: Path, catalog: list[Path], taxonomy: Path | None, reviews: list[Path],
              labelled: list[Path], config: BuildConfig, llm: LLMConfig, quiet: bool = False
              ) -> tuple[dict[str, Any], int]:
    """Returns the build summary and the number of rejected input rows."""
    context = StepContext(llm=llm, index_dir=index_beside(store))
    steps = config.build_steps(context)  # a bad method or step setting fails before anything is stored
    with Ledger(store, exclusive=True) as ledger, ledger.recorded_run(
            "build", {"catalog": [str(p) for p in catalog], "config": config.model_dump(),
                      "llm": llm.model_dump()}) as run:
        paths = ([taxonomy] if taxonomy else []) + list(catalog) + list(reviews)
        with BatchIds() as batch:
            if config.engine == "ray":  # the catalogue through Ray Data's readers
                from .rayinput import ingest_batch

                reports = ingest_batch(ledger, taxonomy, catalog, reviews, run.id, batch)
            else:
                reports = ingest_paths(ledger, paths, run.id, batch)
            product_ids = list(batch)
        rejected = write_rejected([r for rep in reports for r in rep.rejected],
                                  rejected_rows_path(store))
        training = read_labelled(labelled) if labelled else [
            p for p in ledger.products() if p.attributes]
        progress = progress_bar(enabled=not quiet)
        try:
            progress.start()
            build = Build(ledger, config, context, product_ids, training, run.id, steps, progress)
            run.summary.update(build.run())
        finally:
            progress.stop()
        run.summary.update(run_id=run.id, llm=llm_call_stats(context.home, since=run.started_at),
                           rejected_rows=rejected)
    return run.summary, rejected


def llm_call_stats(home: Path, since: float) -> dict[str, int]:
    """Model calls and cache hits since a time, from the call log every backend writes."""
    from .llm.calllog import CallLog

    log = CallLog(home / "logs.db")
    try:
        return log.stats(since)
    finally:
        log.close()
