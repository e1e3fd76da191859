"""OpenTag-style CRF tagger for attribute values, conditioned on the product type (TXtract).

Each text field (title, description) is a token sequence tagged with BIO labels, one label
pair per attribute (B-Brand, I-Brand, ...). Training labels come from gold values located in
the text (longest first, exact then case-insensitive, on token boundaries). The product type
enters as features, alone and conjoined with the word, its shape and its position, so one model
shares what types have in common (brands, sizes) and still learns what differs between them.
A gazetteer feature marks n-grams equal to a training value of an attribute of the product's
type; on training data it is built out-of-fold so the model does not learn to trust it blindly.

crfsuite trains the model; tagging runs in `LinearChain` (numpy, whole batches at once, each
type limited to the labels seen with it). Features are lists of strings assembled from
per-word tuples cached by word: Python featurisation is what is left of the tagging time.
Confidence of an extracted span is the lowest marginal probability of its tags.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from shelfgraph.context import StepContext
from shelfgraph.models import TYPE_ATTRIBUTE, Product
from shelfgraph.stages.imputation import ImputationStep
from shelfgraph.stages.type import TypeStep
from shelfgraph.steps import Extraction, NotEnoughData

from .linear_chain import LinearChain

TOKEN = re.compile(r"\w+|[^\w\s]")
SEPARATORS = frozenset(",-|/(;:")
MAX_VALUE_TOKENS = 6  # longest gazetteer n-gram
FOLDS = 5
MODEL_FILE = "model.crfsuite"  # crfsuite's output, read into a LinearChain
WEIGHTS_FILE = "weights.npz"
CONFIG_FILE = "tagger.json"
OUTSIDE = "O"

Span = tuple[int, int]  # character offsets
Found = tuple[str, int, int, float]  # attribute, start, end, confidence
Tokens = list[tuple[str, int, int]]  # (text, start, end)


def tokenize(text: str) -> Tokens:
    return [(m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)]


@lru_cache(maxsize=200_000)
def _shape(word: str) -> str:
    """Xxxx -> Xx, 12.5 -> d, ABC123 -> Xd: character classes with repeats collapsed."""
    out = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.isalpha() else "d" if char.isdigit() else char
        if not out or out[-1] != kind:
            out.append(kind)
    return "".join(out)


@lru_cache(maxsize=200_000)
def _word_features(word: str, type_name: str) -> tuple[str, ...]:
    """Features of a word on its own and conjoined with the type (cached: vocabularies repeat)."""
    lower = word.lower()
    shape = _shape(word)
    features = ["w=" + lower, "sh=" + shape, "p2=" + lower[:2], "p3=" + lower[:3],
                "s2=" + lower[-2:], "s3=" + lower[-3:], "len=" + str(min(len(word), 8)),
                "ty=" + type_name + "|w=" + lower, "ty=" + type_name + "|sh=" + shape]
    if any(c.isdigit() for c in word):
        features.append("digit")
    return tuple(features)


@lru_cache(maxsize=200_000)
def _neighbour_features(word: str) -> tuple[tuple[str, ...], ...]:
    """What a word says about the tokens 2 and 1 after it and 1 and 2 before it."""
    lower, shape = word.lower(), _shape(word)
    return tuple(("w" + offset + "=" + lower, "sh" + offset + "=" + shape) for offset in ("-2", "-1", "1", "2"))


@lru_cache(maxsize=65536)
def _position_features(type_name: str, field: str, i: int, from_end: int, segment: int, in_segment: int
                       ) -> tuple[str, ...]:
    position = str(min(i, 6))
    return ("ty=" + type_name, "f=" + field, "pos=" + position, "rpos=" + str(min(from_end, 4)),
            "seg=" + str(min(segment, 3)), "ty=" + type_name + "|pos=" + position, "sp=" + str(min(in_segment, 3)))


EDGES = (("edge2",), ("edge1",), ("edge-1",), ("edge-2",))  # neighbour slots past the ends
EMPTY: tuple[str, ...] = ()


class Gazetteer:
    """Token n-grams of training values per (type, attribute), lowercased."""

    def __init__(self, entries: dict[str, dict[tuple[str, ...], set[str]]] | None = None):
        self.entries = entries or {}
        # per type: first word -> longest n-gram starting with it, so most tokens cost one lookup
        self.longest = {t: {} for t in self.entries}
        for type_name, grams in self.entries.items():
            for key in grams:
                self.longest[type_name][key[0]] = max(len(key), self.longest[type_name].get(key[0], 0))

    @classmethod
    def build(cls, examples: Iterable[tuple[str, Tokens, dict[str, list[Span]]]]) -> "Gazetteer":
        entries: dict[str, dict[tuple[str, ...], set[str]]] = defaultdict(lambda: defaultdict(set))
        for type_name, tokens, spans in examples:
            for attribute, attribute_spans in spans.items():
                for start, end in attribute_spans:
                    key = tuple(t.lower() for t, s, e in tokens if s >= start and e <= end)
                    if 0 < len(key) <= MAX_VALUE_TOKENS:
                        entries[type_name][key].add(attribute)
        return cls({t: dict(grams) for t, grams in entries.items()})

    def features(self, type_name: str, tokens: Tokens) -> list[list[str]]:
        """Per token, "gz=B-<attribute>"/"gz=I-<attribute>" where an n-gram matches."""
        grams = self.entries.get(type_name)
        marks: list[list[str]] = [[] for _ in tokens]
        if not grams:
            return marks
        longest = self.longest[type_name]
        words = [t.lower() for t, _, _ in tokens]
        for i, word in enumerate(words):
            for n in range(min(longest.get(word, 0), len(words) - i), 0, -1):
                attributes = grams.get(tuple(words[i:i + n]))
                if attributes:
                    for attribute in sorted(attributes):
                        marks[i].append("gz=B-" + attribute)
                        for k in range(i + 1, i + n):
                            marks[k].append("gz=I-" + attribute)
                    break
        return marks

    def to_json(self) -> dict:
        return {t: [[list(k), sorted(v)] for k, v in grams.items()] for t, grams in self.entries.items()}

    @classmethod
    def from_json(cls, data: dict) -> "Gazetteer":
        return cls({t: {tuple(k): set(v) for k, v in grams} for t, grams in data.items()})


def featurize(tokens: Tokens, type_name: str, field: str, gazetteer_marks: list[list[str]]) -> list[list[str]]:
    """One feature list per token: the word, its neighbours, position, segment, the type alone
    and conjoined with word, shape and position, the field and the gazetteer marks. Built from
    cached tuples: this runs for every product, and Python here is the tagger's bottleneck."""
    words = [t for t, _, _ in tokens]
    lowers = [w.lower() for w in words]
    n = len(words)
    neighbours = [_neighbour_features(w) for w in words]  # [-2 slot, -1 slot, +1 slot, +2 slot]
    ty_prev = "ty=" + type_name + "|w-1="
    type_words = set(type_name.lower().split())
    # what a token says about the one after it (index i + 1) and the one before it (i - 1)
    after = [EMPTY] * n
    before = [EMPTY] * n
    for i, word in enumerate(lowers):
        marks = gazetteer_marks[i]
        if i + 1 < n:
            after[i + 1] = (*["gz-1" + m[2:] for m in marks], "bi=" + word + "|" + lowers[i + 1], ty_prev + word)
        if i:
            before[i - 1] = (*["gz+1" + m[2:] for m in marks], *(("intype+1",) if word in type_words else ()))
    sequence = []
    segment = segment_start = 0
    for i, word in enumerate(words):
        features = [*_position_features(type_name, field, i, n - 1 - i, segment, i - segment_start),
                    *_word_features(word, type_name), *gazetteer_marks[i], *after[i], *before[i],
                    *(neighbours[i - 2][0] if i >= 2 else EDGES[3]), *(neighbours[i - 1][1] if i >= 1 else EDGES[2]),
                    *(neighbours[i + 1][2] if i + 1 < n else EDGES[1]), *(neighbours[i + 2][3] if i + 2 < n else EDGES[0])]
        if lowers[i] in type_words:
            features.append("intype")
        sequence.append(features)
        if word in SEPARATORS:
            segment += 1
            segment_start = i + 1
    return sequence


def locate(text: str, tokens: Tokens, values: dict[str, list[str]]) -> dict[str, list[Span]]:
    """Character spans of each attribute's values in `text`: longest values first, every
    occurrence, exact match preferred over case-insensitive, snapped to token boundaries and
    never overlapping a span already taken."""
    starts = {s for _, s, _ in tokens}
    ends = {e for _, _, e in tokens}
    taken: list[Span] = []
    found: dict[str, list[Span]] = defaultdict(list)
    pairs = sorted(((a, v.strip()) for a, vs in values.items() for v in vs if v.strip()),
                   key=lambda pair: -len(pair[1]))
    lowered = text.lower()
    for attribute, value in pairs:
        hits = [m.start() for m in re.finditer(re.escape(value), text)] or \
               [m.start() for m in re.finditer(re.escape(value.lower()), lowered)]
        for start in hits:
            end = start + len(value)
            if start not in starts or end not in ends:
                continue
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            found[attribute].append((start, end))
    return dict(found)


def bio_labels(tokens: Tokens, spans: dict[str, list[Span]]) -> list[str]:
    labels = [OUTSIDE] * len(tokens)
    for attribute, attribute_spans in spans.items():
        for start, end in attribute_spans:
            inside = [i for i, (_, s, e) in enumerate(tokens) if s >= start and e <= end]
            for k, i in enumerate(inside):
                labels[i] = ("B-" if k == 0 else "I-") + attribute
    return labels


def decode(tokens: Tokens, labels: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """(attribute, first token, last token + 1, start, end) of each labelled span."""
    spans = []
    current: list | None = None
    for i, label in enumerate(labels):
        tag, _, attribute = label.partition("-")
        if current is not None and (tag != "I" or attribute != current[0]):
            spans.append(tuple(current))
            current = None
        if tag in ("B", "I") and current is None:  # an I without a B starts a span too
            current = [attribute, i, i + 1, tokens[i][1], tokens[i][2]]
        elif tag == "I":
            current[2], current[4] = i + 1, tokens[i][2]
    if current is not None:
        spans.append(tuple(current))
    return spans


class SpanTagger:
    """The CRF itself: trained by crfsuite on (type, field, text, gold values); tags batches of
    texts into spans with `LinearChain`, each type limited to the labels seen with it."""

    def __init__(self, c1: float = 0.05, c2: float = 0.01, max_iterations: int = 150,
                 min_freq: int = 1, use_gazetteer: bool = True):
        self.params = {"c1": c1, "c2": c2, "max_iterations": max_iterations, "min_freq": min_freq,
                       "use_gazetteer": use_gazetteer}
        self.gazetteer = Gazetteer()
        self.chain: LinearChain | None = None
        self.type_labels: dict[str, list[str]] = {}  # type -> labels seen in its training texts

    def fit(self, examples: Sequence[tuple[str, str, str, dict[str, list[str]]]],
            groups: Sequence[int] | None = None) -> None:
        """`examples`: (type, field, text, {attribute: gold values}); values not found in the
        text are ignored for that field. `groups[i]` names the product of example i, so that the
        texts of one product share a fold (its title's values never mark its description)."""
        import tempfile

        import pycrfsuite

        prepared, folds = [], []
        for k, (type_name, field, text, values) in enumerate(examples):
            tokens = tokenize(text)
            if tokens:
                prepared.append((type_name, field, tokens, locate(text, tokens, values)))
                folds.append((groups[k] if groups is not None else k) % FOLDS)
        if not prepared:
            raise NotEnoughData("no training text: no labelled product has words in the fields read")
        if not any(spans for _, _, _, spans in prepared):
            raise NotEnoughData(f"no gold value occurs in its own text in the {len(prepared)} training texts: "
                                "nothing to learn to tag")
        use_gazetteer = self.params["use_gazetteer"]
        if use_gazetteer:
            self.gazetteer = Gazetteer.build((t, tokens, spans) for t, _, tokens, spans in prepared)
        trainer = pycrfsuite.Trainer(verbose=False)
        trainer.set_params({"c1": self.params["c1"], "c2": self.params["c2"],
                            "max_iterations": self.params["max_iterations"],
                            "feature.minfreq": self.params["min_freq"],
                            "feature.possible_transitions": True})
        type_labels: dict[str, dict[str, None]] = defaultdict(lambda: {OUTSIDE: None})
        for fold in range(FOLDS):
            if use_gazetteer:  # out-of-fold marks, as the tagger will see on unseen products
                gazetteer = Gazetteer.build((t, tokens, spans) for (t, _, tokens, spans), f in zip(prepared, folds)
                                            if f != fold)
            for type_name, field, tokens, spans in (p for p, f in zip(prepared, folds) if f == fold):
                marks = gazetteer.features(type_name, tokens) if use_gazetteer else [[] for _ in tokens]
                labels = bio_labels(tokens, spans)
                type_labels[type_name].update(dict.fromkeys(labels))
                trainer.append(featurize(tokens, type_name, field, marks), labels)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / MODEL_FILE
            trainer.train(str(path))
            self.chain = LinearChain.from_crfsuite(path)
        self.type_labels = {t: sorted(labels) for t, labels in type_labels.items()}

    def tag(self, texts: Sequence[tuple[str, str, str]], recall: Sequence[Sequence[str]] = (),
            threshold: float = 1.0) -> list[list[Found]]:
        """Spans in each (type, field, text): those of the best label sequence, each with the
        lowest marginal of its tags as confidence; then, for each attribute of `recall[i]` that
        the best sequence left out, the span starting where B-attribute is most probable when
        that marginal reaches `threshold` (extended over I tags as probable)."""
        if self.chain is None:
            raise RuntimeError("the CRF is not trained: call initialize() with training products or from_disk()")
        results: list[list[Found]] = [[] for _ in texts]
        groups: dict[str, list[tuple[int, Tokens, list[list[str]]]]] = defaultdict(list)
        for i, (type_name, field, text) in enumerate(texts):
            tokens = tokenize(text)
            if tokens:
                marks = self.gazetteer.features(type_name, tokens) if self.params["use_gazetteer"] else \
                    [[] for _ in tokens]
                groups[type_name].append((i, tokens, featurize(tokens, type_name, field, marks)))
        for type_name, members in groups.items():
            allowed = self.type_labels.get(type_name, self.chain.labels)
            tagged = self.chain.tag([features for _, _, features in members], allowed)
            for (i, tokens, _), (path, marginals, names) in zip(members, tagged):
                labels = [names[k] for k in path]
                probabilities = marginals[range(len(path)), path].tolist()
                found = results[i]
                for attribute, first, last, start, end in decode(tokens, labels):
                    found.append((attribute, start, end, min(probabilities[first:last])))
                if not recall:
                    continue
                column = {name: k for k, name in enumerate(names)}
                present = {f[0] for f in found}
                missing = [a for a in recall[i] if a not in present and "B-" + a in column]
                if not missing:
                    continue
                begins = marginals[:, [column["B-" + a] for a in missing]]
                firsts = begins.argmax(axis=0).tolist()
                for attribute, first, confidence in zip(missing, firsts, begins.max(axis=0).tolist()):
                    if confidence < threshold:
                        continue
                    last, inside = first + 1, column.get("I-" + attribute)
                    while inside is not None and last < len(tokens) and marginals[last, inside] >= threshold:
                        last += 1
                    found.append((attribute, tokens[first][1], tokens[last - 1][2], confidence))
        return results

    def to_disk(self, path: Path, extra: dict) -> None:
        if self.chain is None:
            raise RuntimeError("nothing to save: the CRF is not trained")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.chain.save(path / WEIGHTS_FILE)
        config = {"params": self.params, "type_labels": self.type_labels, "gazetteer": self.gazetteer.to_json(),
                  **extra}
        (path / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def from_disk(cls, path: Path) -> tuple["SpanTagger", dict]:
        path = Path(path)
        config = json.loads((path / CONFIG_FILE).read_text("utf-8"))
        tagger = cls(**config.pop("params"))
        tagger.gazetteer = Gazetteer.from_json(config.pop("gazetteer"))
        tagger.type_labels = config.pop("type_labels")
        tagger.chain = LinearChain.load(path / WEIGHTS_FILE)
        return tagger, config


def _extraction(text: str, field: str, found: Found) -> Extraction:
    attribute, start, end, confidence = found
    return Extraction(value=text[start:end], attribute=attribute, field=field, start=start, end=end,
                      confidence=confidence)


def _type_of(product: Product) -> str:
    return product.product_type or ""


class CRFTagger(ImputationStep):
    """Attribute values of a product's type, found in its title and description."""

    batch_size = 500  # `LinearChain` tags a batch at once: numpy's cost per token step is per batch

    def __init__(self, context: StepContext | None = None, fields: Sequence[str] = ("title", "description"),
                 recall_threshold: float = 0.15, **params):
        """`recall_threshold` < 1: also report a wanted attribute the best path left out when
        its most probable start has at least that marginal probability."""
        self.context = context
        self.fields = tuple(fields)
        self.recall_threshold = recall_threshold
        self.crf = SpanTagger(**params)

    def _texts(self, product: Product) -> list[tuple[str, str, str]]:
        return [(_type_of(product), f, product.field_text(f)) for f in self.fields
                if f in ("title", "description") and product.field_text(f)]

    def initialize(self, train: Sequence[Product]) -> None:
        texts = [(i, t, f, text, product.attributes) for i, product in enumerate(train)
                 for t, f, text in self._texts(product)]
        self.crf.fit([text[1:] for text in texts], groups=[text[0] for text in texts])

    def predict(self, products: Sequence[Product], attributes: Sequence[Sequence[str]]) -> list[list[Extraction]]:
        """For each wanted attribute, its most confident span over the fields."""
        if len(products) != len(attributes):
            raise ValueError(f"{len(products)} products but {len(attributes)} attribute lists")
        texts, owners = [], []
        for i, product in enumerate(products):
            for text in self._texts(product):
                texts.append(text)
                owners.append(i)
        recall = [attributes[i] for i in owners] if self.recall_threshold < 1 else ()
        best: list[dict[str, tuple[float, int, Found]]] = [{} for _ in products]
        for k, (i, spans) in enumerate(zip(owners, self.crf.tag(texts, recall, self.recall_threshold))):
            wanted = attributes[i]
            for found in spans:
                attribute, confidence = found[0], found[3]
                if attribute in wanted and confidence > best[i].get(attribute, (-1.0,))[0]:
                    best[i][attribute] = (confidence, k, found)
        return [[_extraction(texts[k][2], texts[k][1], found) for _, k, found in chosen.values()] for chosen in best]

    def to_disk(self, path: Path) -> None:
        self.crf.to_disk(path, {"fields": list(self.fields)})

    def from_disk(self, path: Path) -> "CRFTagger":
        """The trained model; `recall_threshold` stays as configured (it only affects decoding)."""
        self.crf, config = SpanTagger.from_disk(path)
        self.fields = tuple(config["fields"])
        return self


class CRFTypeTagger(TypeStep):
    """The product-type phrase of a title, tagged by the same CRF with one label."""

    batch_size = 500

    def __init__(self, context: StepContext | None = None, **params):
        self.context = context
        self.crf = SpanTagger(**{"use_gazetteer": False, **params})

    def initialize(self, train: Sequence[Product]) -> None:
        examples = []
        for product in train:
            phrases = product.attributes.get(TYPE_ATTRIBUTE) or (
                [product.product_type] if product.product_type else [])
            examples.append(("", "title", product.title, {TYPE_ATTRIBUTE: phrases}))
        self.crf.fit(examples)

    def predict(self, products: Sequence[Product]) -> list[Extraction | None]:
        tagged = self.crf.tag([("", "title", product.title) for product in products])
        best = [max(spans, key=lambda found: found[3], default=None) for spans in tagged]
        return [None if found is None else _extraction(product.title, "title", found)
                for product, found in zip(products, best)]

    def to_disk(self, path: Path) -> None:
        self.crf.to_disk(path, {})

    def from_disk(self, path: Path) -> "CRFTypeTagger":
        self.crf, _ = SpanTagger.from_disk(path)
        return self


def register_steps(register) -> None:
    register("imputation", "baseline", CRFTagger,
             description="OpenTag-style CRF over title and description tokens, conditioned on the product type")
    register("type", "baseline", CRFTypeTagger,
             description="CRF tagging the product-type phrase in the title")
