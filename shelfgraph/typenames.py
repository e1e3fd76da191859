"""What counts as a product type name, and which spellings name the same type.

A type step reads a phrase off a title, and a title's other phrases are often attribute
values: a tagger or a small model takes "Men's" (a gender) or "Nubuck" (a material) for the
type, and writes one type three ways ("face mask", "face masks", "face-masks"). Every method
of the type step goes through the same two checks, so neither depends on the method:
`is_type_phrase` (the type stage asserts no type that fails it) and `TypeSpellings` (the
graph reads each type under one spelling, so hypernym, relations and synonyms see one type).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from .models import TYPE_ATTRIBUTE, Product, normalise_label

_WORD = re.compile(r"[a-z0-9]+")
_POSSESSIVE = re.compile(r"\w['’]s?$")  # "men's", "girls'"
# Attributes whose values describe a product rather than name a kind of one: a phrase whose
# head word heads such a value ("Chocolate Nubuck", a colour) and no known type is not a type.
DESCRIPTIVE_ATTRIBUTES = frozenset({"color", "colour", "material", "gender", "age group", "size", "pattern"})


def singular(word: str) -> str:
    """A light singular, enough to tell "masks" and "mask" apart from "glass" and "dress"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Lower-cased words, singular, with hyphens, slashes and punctuation as spaces."""
    return [singular(w) for w in _WORD.findall(text.lower())]


def head_word(text: str) -> str | None:
    """The last word of a noun phrase, singular: "cold brew coffees" -> "coffee"."""
    found = words(text)
    return found[-1] if found else None


def type_key(phrase: str) -> str:
    """What two spellings of one type share: "Face-Masks" and "face mask" -> "face mask"."""
    return " ".join(words(phrase))


def descriptor_words(known_types: Iterable[str], labelled: Sequence[Product]) -> frozenset[str]:
    """Head words of the labelled products' descriptive values (colours, materials, genders,
    sizes) that head no known type: "nubuck" (of the colour "Chocolate Nubuck"), "women"."""
    type_heads = {head_word(t) for t in known_types}
    type_heads |= {head_word(p.product_type) for p in labelled if p.product_type}
    type_heads |= {head_word(v) for p in labelled for v in p.attributes.get(TYPE_ATTRIBUTE, [])}
    heads = {head_word(v) for p in labelled for attribute, values in p.attributes.items()
             if normalise_label(attribute) in DESCRIPTIVE_ATTRIBUTES for v in values}
    return frozenset(h for h in heads - type_heads if h)


def is_type_phrase(phrase: str, descriptors: Iterable[str] = ()) -> bool:
    """Whether a phrase can name a product type: its head word is a word (not a number or a
    possessive like "men's") and not a descriptor word (`descriptor_words`)."""
    head = head_word(phrase)
    if head is None or not head.isalpha() or _POSSESSIVE.search(normalise_label(phrase)):
        return False
    return head not in set(descriptors)


class TypeSpellings:
    """One spelling per type phrase: a known type's own (`known`, the first of equal keys:
    the catalogue's before the taxonomy's) where one shares its key, else the spelling most
    of the phrases use (ties: the shortest, then the first alphabetically)."""

    def __init__(self, known: Iterable[str], phrases: Iterable[str] | Mapping[str, int]):
        """`phrases`: each phrase as often as it is stated, or phrase -> times stated."""
        self.spelling: dict[str, str] = {}
        for name in known:
            self.spelling.setdefault(type_key(name), normalise_label(name))
        counts: Counter[str] = Counter()
        for phrase, times in (phrases.items() if isinstance(phrases, Mapping) else ((p, 1) for p in phrases)):
            counts[normalise_label(phrase)] += times
        for name, _ in sorted(counts.items(), key=lambda item: (-item[1], len(item[0]), item[0])):
            self.spelling.setdefault(type_key(name), name)

    def __call__(self, phrase: str) -> str:
        name = normalise_label(phrase)
        return self.spelling.get(type_key(name), name)
