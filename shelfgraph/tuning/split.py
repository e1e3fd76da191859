"""The validation share `shelfgraph tune --valid-share S --seed N` holds out, defined once so
that a hybrid's settings can be chosen on exactly the items its tuned agent never saw
(`scripts/tune_hybrids.py --valid-share`)."""

from __future__ import annotations

import random
from typing import Any, Sequence


def valid_split(items: Sequence[Any], share: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(kept, held out): a seeded `share` of `items` held out, at least one item each side,
    both in the items' own order."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_valid = min(max(1, round(len(items) * share)), len(items) - 1)
    held = set(order[:n_valid])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]
