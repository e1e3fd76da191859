"""Batched inference for a linear-chain CRF trained by crfsuite, in numpy.

crfsuite tags one sequence at a time over every label it knows, and computes marginals in a
second pass; with ~100 labels that is most of a tagger's time. Here a batch of sequences is
scored with one sparse product, then Viterbi and forward-backward run over the whole batch at
once, restricted to the labels allowed for it (a product type's attributes), which is both
faster and a sounder type conditioning. Same model, same scores as crfsuite: crfsuite's
linear chain has state features (attribute x label) and label-to-label transitions only.
"""

from __future__ import annotations

from itertools import chain, repeat
from pathlib import Path
from typing import Sequence

import numpy as np


class LinearChain:
    def __init__(self, labels: Sequence[str], attributes: Sequence[str], state: np.ndarray, transitions: np.ndarray):
        self.labels = list(labels)
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        self.attributes = {attribute: i for i, attribute in enumerate(attributes)}
        self.state = state  # attributes x labels
        self.transitions = transitions  # labels x labels (from, to)
        self._restricted: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def from_crfsuite(cls, model_path: Path) -> "LinearChain":
        import pycrfsuite

        tagger = pycrfsuite.Tagger()
        tagger.open(str(model_path))
        info = tagger.info()
        labels = sorted(info.labels, key=info.labels.get)
        attributes = sorted(info.attributes, key=info.attributes.get)
        label_index = {label: i for i, label in enumerate(labels)}
        attribute_index = {attribute: i for i, attribute in enumerate(attributes)}
        state = np.zeros((len(attributes), len(labels)), dtype=np.float64)
        for (attribute, label), weight in info.state_features.items():
            state[attribute_index[attribute], label_index[label]] = weight
        transitions = np.zeros((len(labels), len(labels)), dtype=np.float64)
        for (source, target), weight in info.transitions.items():
            transitions[label_index[source], label_index[target]] = weight
        tagger.close()
        return cls(labels, attributes, state, transitions)

    def save(self, path: Path) -> None:
        """Non-zero state weights only (L1 training leaves most at zero)."""
        rows, cols = np.nonzero(self.state)
        with open(path, "wb") as out:
            np.savez_compressed(out, labels=np.array(self.labels), attributes=np.array(list(self.attributes)),
                                rows=rows, cols=cols, weights=self.state[rows, cols], transitions=self.transitions)

    @classmethod
    def load(cls, path: Path) -> "LinearChain":
        with np.load(path) as data:
            labels, attributes = data["labels"].tolist(), data["attributes"].tolist()
            state = np.zeros((len(attributes), len(labels)))
            state[data["rows"], data["cols"]] = data["weights"]
            return cls(labels, attributes, state, data["transitions"])

    def _weights(self, allowed: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        if allowed not in self._restricted:
            index = np.array(allowed)
            state = np.zeros((len(self.state) + 1, len(index)))  # + a zero row for unknown features
            state[:-1] = self.state[:, index]
            self._restricted[allowed] = (state, self.transitions[np.ix_(index, index)])
        return self._restricted[allowed]

    def tag(self, sequences: Sequence[Sequence[Sequence[str]]], allowed: Sequence[str],
            chunk: int = 128) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
        """For each sequence of per-token feature lists: its best path (Viterbi) as column
        numbers, the marginal probabilities (tokens x columns) and the columns' label names
        (the allowed labels the model knows). Sequences of similar length are batched together."""
        names = [label for label in allowed if label in self.label_index]
        index = tuple(self.label_index[label] for label in names)
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        results: list = [None] * len(sequences)
        for begin in range(0, len(order), chunk):
            part = order[begin:begin + chunk]
            for i, (path, marginals) in zip(part, self._tag([sequences[i] for i in part], index)):
                results[i] = (path, marginals, names)
        return results

    def _tag(self, sequences: Sequence[Sequence[Sequence[str]]], index: tuple[int, ...]):
        from scipy.sparse import csr_matrix

        state, transitions = self._weights(index)
        lengths = np.array([len(s) for s in sequences])
        batch, longest, width = len(sequences), int(lengths.max()), len(index)
        tokens = [features for sequence in sequences for features in sequence]
        sizes = np.fromiter(map(len, tokens), dtype=np.intp, count=len(tokens))
        pointers = np.zeros(len(tokens) + 1, dtype=np.intp)
        np.cumsum(sizes, out=pointers[1:])
        get, unknown = self.attributes.get, repeat(len(self.attributes))  # unknown features: a zero row
        columns = np.fromiter(map(get, chain.from_iterable(tokens), unknown), dtype=np.intp, count=int(pointers[-1]))
        matrix = csr_matrix((np.ones(len(columns)), columns, pointers), shape=(len(tokens), len(state)))
        scores = np.zeros((batch, longest, width))
        pad = np.arange(longest)[None, :] >= lengths[:, None]  # positions past a sequence's end
        scores[~pad] = matrix @ state
        last = lengths - 1
        rows = np.arange(batch)

        # Viterbi in log space. Padding only follows a sequence, so it cannot change anything
        # up to the sequence's last token: read each sequence's scores there.
        delta = scores[:, 0]
        back = np.empty((batch, longest, width), dtype=np.intp)
        final = np.empty((batch, width))
        final[last == 0] = delta[last == 0]
        every_label = np.arange(width)[None, :]
        for t in range(1, longest):
            candidates = delta[:, :, None] + transitions
            back[:, t] = best = candidates.argmax(axis=1)
            delta = candidates[rows[:, None], best, every_label] + scores[:, t]
            ends = last == t
            final[ends] = delta[ends]
        path = np.empty((batch, longest), dtype=np.intp)
        best_last = final.argmax(axis=1)
        path[:, -1] = best_last
        for t in range(longest - 1, 0, -1):
            path[:, t] = np.where(last == t, best_last, path[:, t])
            path[:, t - 1] = back[rows, t, path[:, t]]
        path[:, 0] = np.where(last == 0, best_last, path[:, 0])

        # forward-backward in probability space, rescaled at each token; beta is 1 at the end
        potentials = np.exp(scores - scores.max(axis=2, keepdims=True))
        growth = np.exp(transitions)
        alpha = np.empty_like(scores)
        alpha[:, 0] = potentials[:, 0]
        for t in range(1, longest):
            step = (alpha[:, t - 1] @ growth) * potentials[:, t]
            alpha[:, t] = step / step.sum(axis=1, keepdims=True)
        beta = np.ones_like(scores)
        for t in range(longest - 2, -1, -1):
            step = (potentials[:, t + 1] * beta[:, t + 1]) @ growth.T
            beta[:, t] = np.where((last <= t)[:, None], 1.0, step / step.sum(axis=1, keepdims=True))
        marginals = alpha * beta
        marginals /= marginals.sum(axis=2, keepdims=True)
        return [(path[b, :n], marginals[b, :n]) for b, n in enumerate(lengths.tolist())]
