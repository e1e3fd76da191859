"""The synthetic catalogue generator: deterministic by seed, realistic rows the build ingests."""

from __future__ import annotations

from shelfgraph.eval.bench.synthetic import synthetic_products
from shelfgraph.ingest import product_from_catalog


def test_same_seed_same_catalogue_and_another_seed_another() -> None:
    first = list(synthetic_products(50, seed=3))
    assert first == list(synthetic_products(50, seed=3))
    assert [p["title"] for p in first] != [p["title"] for p in synthetic_products(50, seed=4)]


def test_rows_are_catalogue_products_whose_brand_is_a_span_of_the_title() -> None:
    rows = list(synthetic_products(200, seed=0))
    assert len({row["id"] for row in rows}) == 200
    assert len({row["title"] for row in rows}) > 150  # recombined, not copied
    for row in rows:
        product = product_from_catalog(row)
        assert product.product_type
        for brand in product.attributes.get("Brand", []):
            assert brand in product.title
