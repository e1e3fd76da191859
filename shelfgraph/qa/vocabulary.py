"""The graph's own words: product types, attribute names and values, found in a question.

Matching is on lower-cased, lightly singularised word tokens ("coffees" -> "coffee"), longest
phrase first. A value matches a question phrase when the phrase is the whole value or a
run of its words ("moccasin" -> "Gore Front Moccasin") when no value is the phrase itself;
see `values_matching`.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass, field

from .graph import GraphReader

_TOKEN = re.compile(r"\d+(?:\.\d+)?[a-z]*|[a-z][a-z0-9]*(?:['’][a-z]+)?|%|#|&|\+")
MAX_PHRASE = 8
GENERIC_VALUES = 8  # a word found inside more values than this constrains nothing on its own

# Words of a question that ask rather than constrain: never matched, never "unknown".
STOPWORDS = frozenset("""
a about all also an and any anything are as at available be been by can come comes could
did do does each every find for from get give graph has have having i in info information
is it its items kind kinds know list make made me my need of on one ones or our please
product products sell show sold some tell that the their them then there these they this
those to under us want was we were what whats which who whose will with would you your
is there any stock carry contain contains type types their thing things made by than more
less fewer over above below least most at many much how number count counts per group
grouped break down broken other another instead same different only just
""".split())

NEGATIONS = frozenset("not non no without never isn't aren't".split())
COPULAS = frozenset("is are was".split())
EXCLUDING = frozenset("free no non without less".split())  # words that turn a value into its opposite


def singular(word: str) -> str:
    """A light stemmer, the same on both sides: plural endings, and a final consonant + y
    ("curly" -> "curl", "berries" -> "berry" -> "berr")."""
    if word in ("&", "+"):
        return "and"
    if len(word) <= 3 or not word.isalpha():
        return word
    if len(word) >= 5 and word.endswith("y") and word[-2] not in "aeiou":
        return singular(word[:-1] + "ies")  # one path for "-y" and "-ies"
    if word.endswith("ies"):
        return word[:-3]
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def raw_tokens(text: str) -> list[str]:
    return [t.replace("’", "'") for t in _TOKEN.findall(text.lower())]


def tokens(text: str) -> list[str]:
    """The words matching works on: `raw_tokens`, singularised (the two lists align)."""
    return [singular(t) for t in raw_tokens(text)]


@dataclass(frozen=True)
class Mention:
    """A phrase of the question (token positions start..end) and what it names."""

    kind: str  # "type", "attribute", "value" or "generic" (known, but constrains nothing)
    start: int
    end: int
    text: str
    type_name: str | None = None
    attribute: str | None = None
    # value mentions: attribute -> the graph values it stands for
    values: dict[str, list[str]] = field(default_factory=dict)
    quoted: bool = False  # right after its attribute's name ("whose flavor is X"): taken as written


@dataclass
class Vocabulary:
    types: dict[str, int]
    attributes: set[str]
    # attribute -> value -> type -> products
    values: dict[str, dict[str, dict[str, int]]]
    title_tokens: set[str]
    _phrases: dict[tuple[str, ...], list[tuple[str, str]]] = field(default_factory=dict)
    _value_tokens: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    _known_tokens: set[str] = field(default_factory=set)
    _display: dict[str, str] = field(default_factory=dict)  # token -> a word as the graph writes it
    # attribute -> token -> values holding it, in `values` order: a phrase is compared only with
    # the values that hold its first word (comparing with all 50,000 values of the web benchmark
    # took ~80 ms a question)
    _holding: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _one_word: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # attribute -> sorted (token, value)
    _order: dict[str, dict[str, int]] = field(default_factory=dict)  # attribute -> value -> place in `values`

    @classmethod
    def from_graph(cls, graph: GraphReader) -> "Vocabulary":
        ledger = graph.ledger
        values = ledger.value_type_counts()
        # every title in one regex pass, each distinct word singularised once (100,000 titles:
        # 11 s one title at a time, docs/benchmarks.md)
        title_tokens = {singular(t) for t in set(raw_tokens("\n".join(ledger.titles())))}
        vocab = cls(ledger.type_counts(), set(values), values, title_tokens)
        vocab._build()
        return vocab

    def _build(self) -> None:
        phrases: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
        heads: dict[str, list[str]] = defaultdict(list)
        for name in self.types:
            words = tuple(tokens(name))
            phrases[words].append(("type", name))
            if len(words) > 1:
                heads[words[-1]].append(name)
        for head, names in heads.items():  # "cereals" -> Breakfast Cereal, when only one type ends so
            if len(names) == 1 and (head,) not in phrases:
                phrases[(head,)].append(("type", names[0]))
        for attribute in self.attributes:
            phrases[tuple(tokens(attribute))].append(("attribute", attribute))
        for attribute, by_value in self.values.items():
            holding: dict[str, list[str]] = self._holding.setdefault(attribute, defaultdict(list))
            self._order[attribute] = {value: i for i, value in enumerate(by_value)}
            for value in by_value:
                words = tuple(tokens(value))
                self._value_tokens[(attribute, value)] = words
                for word in dict.fromkeys(words):
                    holding[word].append(value)
                if len(words) == 1:
                    self._one_word.setdefault(attribute, []).append((words[0], value))
                self._known_tokens.update(words)
                if len(words) == 1 and (len(words[0]) < 3 or words[0].isdigit()):
                    phrases[words].append(("short", attribute))  # "18", "xl": only right after its attribute
                    continue
                for size in range(1, min(len(words), MAX_PHRASE) + 1):
                    for i in range(len(words) - size + 1):
                        sub = words[i : i + size]
                        whole = size == len(words)
                        edges = (sub[0], sub[-1])
                        if not whole and (STOPWORDS.intersection(edges) or NEGATIONS.intersection(edges)
                                          or len(sub[0]) < 3):
                            continue
                        if not all(w in STOPWORDS for w in sub):
                            phrases[sub].append(("value", attribute))
        self._phrases = {k: list(dict.fromkeys(v)) for k, v in phrases.items()}
        self._one_word = {a: sorted(pairs) for a, pairs in self._one_word.items()}
        names = [*self.types, *self.attributes, *(v for by_value in self.values.values() for v in by_value)]
        for name in names:
            for raw in _TOKEN.findall(name.lower()):
                self._display.setdefault(singular(raw), raw)
        for words in self._phrases:
            self._known_tokens.update(words)

    def closest(self, word: str, min_score: float = 88.0) -> str | None:
        """The type, attribute or value word nearest to an unknown word ("folgrs" ->
        "folger"), for a "did you mean" hint; None when nothing is close."""
        from rapidfuzz import fuzz, process

        names = {w for w in self._display if len(w) >= 4}
        found = process.extractOne(singular(word), names, scorer=fuzz.ratio, score_cutoff=min_score)
        return self._display[found[0]] if found else None

    def is_known(self, word: str) -> bool:
        return word in self._known_tokens or word in self.title_tokens

    def values_matching(self, attribute: str, words: tuple[str, ...]) -> list[str]:
        """Values of `attribute` the phrase stands for: those that are the phrase (up to case and
        punctuation), with one-word values extending a one-word phrase ("decaf" ->
        "Decaffeinated"); when no value is the phrase, those containing it as a run of words."""
        exact, containing = self._matching(attribute, words)
        return exact or containing

    def _candidates(self, attribute: str, words: tuple[str, ...], prefix: bool = False) -> list[str]:
        """Values of `attribute` holding the phrase's first word (with `prefix`, also one-word
        values starting with it), in `values` order: every value a phrase can stand for."""
        if attribute not in self._order:
            return []
        found = set(self._holding[attribute].get(words[0], ()))
        if prefix:
            pairs = self._one_word.get(attribute, [])
            for token, value in pairs[bisect.bisect_left(pairs, (words[0], "")):]:
                if not token.startswith(words[0]):
                    break
                found.add(value)
        return sorted(found, key=self._order[attribute].__getitem__)

    def _matching(self, attribute: str, words: tuple[str, ...]) -> tuple[list[str], list[str]]:
        exact, containing = [], []
        prefix = len(words) == 1 and len(words[0]) >= 5 and words[0].isalpha()
        for value in self._candidates(attribute, words, prefix):
            value_words = self._value_tokens[(attribute, value)]
            if value_words == words or (
                len(words) == len(value_words) == 1 and len(words[0]) >= 5 and words[0].isalpha()
                and value_words[0].startswith(words[0])
            ):
                exact.append(value)
            elif _contains(value_words, words) and not (EXCLUDING & set(value_words)) - set(words):
                containing.append(value)  # but "caffeine" does not stand for "Caffeine Free"
        return exact, containing

    def mentions(self, question_tokens: list[str], types: list[str] | None = None) -> list[Mention]:
        """Longest-first, non-overlapping phrases of the question that the graph knows."""
        spans: list[Mention] = []
        i = 0
        while i < len(question_tokens):
            named = None
            if spans and spans[-1].kind == "attribute" and (
                    i == spans[-1].end or (i == spans[-1].end + 1 and question_tokens[i - 1] in COPULAS)):
                named = spans[-1].attribute
            for size in range(min(MAX_PHRASE, len(question_tokens) - i), 0, -1):
                words = tuple(question_tokens[i : i + size])
                if all(w in STOPWORDS for w in words):
                    continue
                mention = self._mention(words, i, i + size, self._phrases.get(words, []), named)
                if (mention is not None and mention.kind == "value" and not any(m.kind == "type" for m in spans)
                        and self._ends_in_type(words)):
                    continue  # "whole bean coffees": the value "whole bean", then the type
                if mention is not None:
                    spans.append(mention)
                    i += size
                    break
            else:
                i += 1
        return spans

    def _ends_in_type(self, words: tuple[str, ...]) -> bool:
        for cut in range(1, len(words)):
            head, tail = words[:cut], words[cut:]
            if any(k == "type" for k, _ in self._phrases.get(tail, [])) and any(
                    k in ("value", "short") for k, _ in self._phrases.get(head, [])):
                return True
        return False

    def _mention(self, words: tuple[str, ...], start: int, end: int, meanings: list[tuple[str, str]],
                 named: str | None) -> Mention | None:
        """What a phrase names. Right after an attribute name ("sub brand Breakfast Cereal",
        "net content 18") a value of that attribute wins; elsewhere a type or an attribute
        name wins over a value, and short values ("18", "xl") are not matched at all."""
        text = " ".join(words)
        if named and any(a == named for kind, a in meanings if kind in ("value", "short")):
            return Mention("value", start, end, text, values={named: self.values_matching(named, words)}, quoted=True)
        for kind, name in meanings:
            if kind == "type":
                return Mention("type", start, end, text, type_name=name)
        for kind, name in meanings:
            if kind == "attribute":
                return Mention("attribute", start, end, text, attribute=name)
        found = {a: self._matching(a, words) for kind, a in meanings if kind == "value"}
        # an attribute holding the phrase itself beats one where it is only part of a value
        if any(exact for exact, _ in found.values()):
            values = {a: exact for a, (exact, _) in found.items() if exact}
        else:
            values = {a: containing for a, (_, containing) in found.items() if containing}
            if len(words) == 1 and sum(map(len, values.values())) > GENERIC_VALUES:
                return Mention("generic", start, end, text)  # "hair", "tea": part of too many values to mean one
        return Mention("value", start, end, text, values=values) if values else None

    def scoped(self, mention: Mention, types: list[str]) -> dict[str, list[str]]:
        """A value mention's attributes and values restricted to products of `types`."""
        if not types:
            return mention.values
        wanted = {t.lower() for t in types}
        type_words = {w for t in types for w in tokens(t)}
        phrase = tuple(tokens(mention.text))
        scoped: dict[str, list[str]] = {}
        for attribute, values in mention.values.items():
            if not mention.quoted and phrase:  # "whole bean" for coffee also stands for "Whole Bean Coffee"
                values = values + [v for v in self._candidates(attribute, phrase) if v not in values and tuple(
                    w for w in self._value_tokens[(attribute, v)] if w not in type_words) == phrase]
            kept = [v for v in values if any(t.lower() in wanted for t in self.values[attribute][v])]
            if kept:
                scoped[attribute] = kept
        return scoped


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
