"""The relations baseline: neighbours' attributes, frequency features, importance facts."""

from __future__ import annotations

import pytest

from shelfgraph.baselines.relations import importance_scores
from shelfgraph.models import Product, TextSnippet
from shelfgraph.registry import create
from shelfgraph.steps import RelationQuery

KNOWN = {
    "Food > Beverages > Coffee": ["Flavor", "Roast", "Caffeine content"],
    "Food > Beverages > Tea": ["Flavor", "Tea variety", "Caffeine content"],
    "Food > Beverages": ["Flavor"],
    "Apparel > Shirts": ["Color", "Size", "Fit"],
    "Apparel > Hats": ["Color", "Size"],
}


def _products() -> list[Product]:
    return [
        Product(id="1", title="Starbucks Pike Place Medium Roast Espresso", attributes={"Roast": ["Medium Roast"],
                "Brand": ["Starbucks"]}, reviews=[TextSnippet(id="r1", text="Love this medium roast")]),
        Product(id="2", title="Illy Classico Espresso Ground Coffee", attributes={"Brand": ["Illy"]},
                reviews=[TextSnippet(id="r2", text="Tastes burnt")]),
    ]


def test_attributes_of_neighbours_apply_and_unrelated_ones_do_not() -> None:
    step = create("relations", "baseline", neighbours=3)
    step.initialize(KNOWN)
    [scores] = step.predict([RelationQuery(type_name="Espresso", path=["Food", "Beverages"])])
    by_name = {s.attribute: s.applicable for s in scores}
    assert by_name["Flavor"] > 0.9  # every food neighbour and the parent have it
    assert by_name.get("Color", 0.0) < 0.5
    assert [s.applicable for s in scores] == sorted((s.applicable for s in scores), reverse=True)


def test_products_add_frequency_and_importance() -> None:
    step = create("relations", "baseline", neighbours=3)
    step.initialize(KNOWN)
    [scores] = step.predict([RelationQuery(type_name="Espresso", path=["Food", "Beverages"], products=_products())])
    by_name = {s.attribute: s for s in scores}
    assert by_name["Brand"].applicable == pytest.approx(0.5)  # only from products: both titles mention a brand
    assert by_name["Brand"].importance == pytest.approx(0.5)  # titles 2/2, reviews 0/2
    assert by_name["Roast"].importance == pytest.approx(0.5)  # titles 1/2, reviews 1/2


def test_importance_from_provider_and_customer_text() -> None:
    scores = importance_scores(_products())
    # Roast: titles 1/2, reviews 1/2 -> 0.5; Brand: titles 2/2, reviews 0/2 -> 0.5
    assert scores == {"Roast": pytest.approx(0.5), "Brand": pytest.approx(0.5)}
    no_reviews = [p.model_copy(update={"reviews": []}) for p in _products()]
    assert importance_scores(no_reviews) == {"Roast": 0.5, "Brand": 1.0}
