"""`embed` encodes each distinct text once per process, and gives the vector the text gets alone."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from shelfgraph.retrieval.embeddings import _Memo, embed, get_encoder

# distinct token counts, and texts no other test embeds (the memo lives for the process)
TEXTS = ["memo test: red", "memo test: dark roast ground coffee", "memo test: 12 oz",
         "memo test: pack of 24 k-cup pods, medium roast", "memo test: blue", "memo test: 500 ml"]


@pytest.fixture
def calls() -> Iterator[list[int]]:
    """The number of texts of each forward pass the real model makes during the test."""
    seen: list[int] = []
    hook = get_encoder().register_forward_hook(lambda module, args, output: seen.append(len(args[0]["input_ids"])))
    yield seen
    hook.remove()


def test_a_vector_is_the_one_the_text_gets_encoded_alone() -> None:
    """Within 3e-7 (measured: a padded batch moves a text's vector by up to ~2.5e-7; an unpadded
    one, as `embed` encodes, almost always by nothing)."""
    together = embed(TEXTS)
    alone = np.vstack([get_encoder().encode([t], normalize_embeddings=True, convert_to_numpy=True) for t in TEXTS])
    np.testing.assert_allclose(together, alone, rtol=0, atol=3e-7)
    assert together.dtype == np.float32 and np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)


def test_a_known_text_is_not_encoded_again(calls: list[int]) -> None:
    first = embed([f"{t} (second)" for t in TEXTS[:3]])
    assert sum(calls) == 3
    calls.clear()
    again = embed([f"{t} (second)" for t in reversed(TEXTS[:3])])
    assert calls == []  # the model was not called
    np.testing.assert_array_equal(again, first[::-1])
    mixed = embed([f"{TEXTS[0]} (second)", f"{TEXTS[4]} (second)", f"{TEXTS[4]} (second)"])
    assert sum(calls) == 1  # only the new text, once
    np.testing.assert_array_equal(mixed[0], first[0])
    np.testing.assert_array_equal(mixed[1], mixed[2])


def test_the_memo_forgets_the_least_recently_used_text_first() -> None:
    memo = _Memo(size=2)
    a, b, c = (np.full(2, x, dtype=np.float32) for x in (1, 2, 3))
    memo.put_many({"a": a, "b": b})
    assert set(memo.get_many(["a"])) == {"a"}  # "a" is now the most recent
    memo.put_many({"c": c})
    assert set(memo.get_many(["a", "b", "c"])) == {"a", "c"}
