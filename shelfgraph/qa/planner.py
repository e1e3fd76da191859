"""Question -> `GraphQuery`, grounded in the graph's vocabulary.

What the graph names (types, attribute names, values) is found by matching; small closed
decisions are rules over the question's words (negation, comparisons, "how many", "per
brand"); the packaged model is asked, through `llm.choose` over fixed options, only what
those leave open: the intent of a question with no cue word. A follow-up ("and which of
those are whole bean?") is merged into the previous query. Words the graph does not know
are reported instead of being dropped, so an answer never silently widens the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal

from ..errors import ModelError
from .query import TYPE_KEY, Filter, GraphQuery, Intent
from .vocabulary import NEGATIONS, STOPWORDS, Mention, Vocabulary, raw_tokens, tokens

if TYPE_CHECKING:
    from ..llm import LLM

INTENT_PROMPT = "qa/intent"
TEXT_CUES = frozenset("review reviewer customer say said says mention mentioned think opinion "
                      "complain complaint feedback describe described comment".split())
FOLLOW_UP_CUES = frozenset("those these them they ones".split())
BRAND = "Brand"
LIST_CUES = frozenset("which what list show find give who name".split())
GROUP_WORDS = frozenset("per by each every".split())
_COMPARISON = re.compile(
    r"(?:\b(spf|[a-z]+)\s+)?\b(under|below|less than|fewer than|at most|up to|over|above|more than|greater than|"
    r"at least)\s+(?:spf\s*)?(\d+(?:\.\d+)?)\s*(fl\.? ?oz|[a-z]+)?"
)
_SPF = re.compile(r"spf\s*#?\s*(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*spf", re.I)
_LIMIT = re.compile(r"\b(?:top|first|only|just|any)\s+(\d{1,4})\b")
_OPS = {"under": "lt", "below": "lt", "less than": "lt", "fewer than": "lt", "at most": "le", "up to": "le",
        "over": "gt", "above": "gt", "more than": "gt", "greater than": "gt", "at least": "ge"}
_UNITS = {"ounce": "oz", "ounces": "oz", "oz": "oz", "fl oz": "fl oz", "floz": "fl oz", "fl. oz": "fl oz",
          "pound": "lb", "pounds": "lb", "lbs": "lb", "lb": "lb", "count": "count", "ct": "count",
          "pack": "pack", "packs": "pack", "pk": "pack", "gram": "g", "grams": "g", "g": "g", "kg": "kg",
          "ml": "ml", "milliliter": "ml", "l": "l", "liter": "l", "litre": "l", "capsule": "count",
          "capsules": "count", "tablet": "count", "tablets": "count", "mg": "mg", "spf": "spf"}
_LEADING_NUMBER = re.compile(r"^\D{0,4}?(\d+(?:\.\d+)?)\s*(fl\.? ?oz|[a-z]+)?", re.I)


def normalise_unit(unit: str | None) -> str | None:
    if not unit:
        return None
    unit = unit.lower().strip()
    return _UNITS.get(unit, unit)


def leading_number(value: str) -> tuple[float, str | None] | None:
    """(number, unit) at the start of a value such as "12 Oz" or "SPF 30"; None if none."""
    spf = _SPF.search(value)
    if spf:
        return float(spf.group(1) or spf.group(2)), "spf"
    match = _LEADING_NUMBER.match(value.strip())
    if not match:
        return None
    unit = match.group(2) or ("spf" if value.lower().startswith("spf") else None)
    return float(match.group(1)), normalise_unit(unit)


@dataclass
class Plan:
    route: Literal["graph", "text", "not_found"]
    query: GraphQuery | None
    unknown_terms: list[str] = field(default_factory=list)
    follow_up: bool = False
    notice: str | None = None  # set when the model was wanted but could not be used


class Planner:
    def __init__(self, vocabulary: Vocabulary, llm: "LLM | Callable[[], LLM] | None" = None):
        """`llm` may be a function returning one: the model is then loaded only when a
        question needs it. A model that fails (server down, timeouts, garbage) is not asked
        again: questions are then planned as without one, and each plan that wanted it says so."""
        self.vocabulary = vocabulary
        self._llm = llm
        self.model_failure: str | None = None

    @property
    def llm(self) -> "LLM | None":
        if callable(self._llm) and not hasattr(self._llm, "choose"):
            self._llm = self._llm()
        return self._llm  # type: ignore[return-value]

    def plan(self, question: str, previous: GraphQuery | None = None) -> Plan:
        text = question.lower()
        comparisons, text = self._comparisons(_LIMIT.sub(" ", text))
        words = tokens(text)
        mentions = self.vocabulary.mentions(words)
        covered = {i for m in mentions for i in range(m.start, m.end)}
        follow_up = previous is not None and self._is_follow_up(words, mentions)
        types = [m.type_name for m in mentions if m.kind == "type"]
        scope = types or (previous.product_types if follow_up and previous else [])
        filters, shown, group_by = self._constraints(words, mentions, scope, comparisons)
        leftovers = [(i, w) for i, w in enumerate(words)
                     if i not in covered and w not in STOPWORDS and not w.isdigit() and w not in NEGATIONS]
        if TEXT_CUES & set(words) or (TEXT_CUES & {w.rstrip("s") for w in words}):
            return Plan("text", GraphQuery(product_types=list(dict.fromkeys(scope)), filters=filters),
                        follow_up=follow_up)
        raw = raw_tokens(text)  # as the question wrote them, for the answer
        unknown = [raw[i] for i, w in leftovers if not self.vocabulary.is_known(w)]
        title_terms = [w for _, w in leftovers if self.vocabulary.is_known(w)]
        if unknown:
            return Plan("not_found", None, unknown_terms=list(dict.fromkeys(unknown)), follow_up=follow_up)
        intent, notice = self._intent(question, words, group_by)
        limit = _LIMIT.search(question.lower())
        query = GraphQuery(product_types=list(dict.fromkeys(types)), filters=filters, title_terms=title_terms,
                           intent=intent, group_by=group_by if intent == "group" else None, show=shown,
                           limit=int(limit.group(1)) if limit else None)
        if follow_up and previous is not None:
            query = merge(previous, query)
        elif not (query.product_types or query.filters or query.title_terms or query.show or group_by):
            return Plan("not_found", None, follow_up=follow_up)
        return Plan("graph", query, follow_up=follow_up, notice=notice)

    # -- parts --------------------------------------------------------------------------
    def _comparisons(self, text: str) -> tuple[list[tuple[str, float, str | None]], str]:
        """("SPF over 50", "under 12 oz") -> (op, number, unit); the unit may come before the
        comparison or after the number. Returns them and the text without them."""
        found = []

        def take(m: re.Match) -> str:
            before, after = normalise_unit(m.group(1)), normalise_unit(m.group(4))
            if "spf" in m.group(0).split(m.group(2), 1)[1]:
                before = "spf"
            unit = after if after in _UNITS.values() else before if before in _UNITS.values() else None
            found.append((_OPS[m.group(2)], float(m.group(3)), unit))
            kept = [w for w in (m.group(1), m.group(4)) if w and normalise_unit(w) != unit]
            return " " + " ".join(kept) + " "

        return found, _COMPARISON.sub(take, text)

    def _is_follow_up(self, words: list[str], mentions: list[Mention]) -> bool:
        if FOLLOW_UP_CUES & set(words) or (words and words[0] in ("and", "only", "also")):
            return True
        return not any(m.kind == "type" for m in mentions)

    def _constraints(self, words, mentions, scope, comparisons):
        filters: list[Filter] = []
        shown: list[str] = []
        group_by: str | None = None
        named: list[tuple[int, str]] = [(m.start, m.attribute) for m in mentions if m.kind == "attribute"]
        used_names: set[int] = set()
        for m in mentions:
            if m.kind != "value":
                continue
            values = self.vocabulary.scoped(m, scope) or m.values
            near = [(pos, a) for pos, a in named if a in values and abs(pos - m.start) <= 3]
            if near:
                used_names.add(near[0][0])
                values = {near[0][1]: values[near[0][1]]}
            elif BRAND in values and len(values) > 1 and m.start and words[m.start - 1] in ("from", "by"):
                values = {BRAND: values[BRAND]}  # "from Folgers", "made by Folgers"
            negated = any(w in NEGATIONS for w in words[max(0, m.start - 2) : m.start])
            candidate = Filter(attributes=sorted(values), op="ne" if negated else "eq",
                               values=sorted({v for vs in values.values() for v in vs}))
            previous = filters[-1] if filters else None
            if (previous and previous.op == candidate.op and previous.attributes == candidate.attributes
                    and "or" in words[max(0, m.start - 2) : m.start]):
                filters[-1] = previous.model_copy(update={"values": sorted(set(previous.values) | set(candidate.values))})
            else:
                filters.append(candidate)
        for pos, attribute in named:
            if pos in used_names:
                continue
            before = words[max(0, pos - 2) : pos]
            asked_for = pos == 1 and words[0] in ("what", "which")  # "what brands of tea ..."
            if (GROUP_WORDS & set(before) or asked_for) and group_by is None:
                group_by = attribute
            elif attribute not in shown:
                shown.append(attribute)
        for i, w in enumerate(words):  # "per type", "by product type"
            if w == "type" and GROUP_WORDS & set(words[max(0, i - 2) : i]) and group_by is None:
                group_by = TYPE_KEY
        for op, number, unit in comparisons:
            attributes = self._numeric_attributes(scope, unit)
            if attributes:
                filters.append(Filter(attributes=attributes, op=op, number=number, unit=unit))
        return filters, shown, group_by

    def _numeric_attributes(self, scope: list[str], unit: str | None) -> list[str]:
        """Attributes whose values (for products of `scope`) start with a number in `unit`."""
        wanted = {t.lower() for t in scope}
        found = []
        for attribute, by_value in self.vocabulary.values.items():
            hits = 0
            for value, per_type in by_value.items():
                if wanted and not any(t.lower() in wanted for t in per_type):
                    continue
                parsed = leading_number(value)
                if parsed and (unit is None or parsed[1] == unit):
                    hits += 1
            if hits:
                found.append((hits, attribute))
        found.sort(reverse=True)
        return [a for _, a in found[:1]] if unit is None else [a for _, a in found]

    def _intent(self, question: str, words: list[str], group_by: str | None) -> tuple[Intent, str | None]:
        """The intent, and a notice when the model was wanted for it but failed."""
        text = " ".join(words)
        if group_by is not None:
            return "group", None
        if re.search(r"\bhow many\b|\bnumber of\b|\bcount\b|\bhow much\b", text):
            return "count", None
        if LIST_CUES & set(words) or self._llm is None:
            return "list", None
        if self.model_failure is None:
            try:
                return self._ask_intent(question), None
            except ModelError as error:
                self.model_failure = str(error)
        return "list", (f"the model failed ({self.model_failure}); answered with the model-free planner, "
                        "which reads a question with no cue word as a list")

    def _ask_intent(self, question: str) -> Intent:
        """The model's reading of a question with no cue word, calibrated against an empty
        question so its preference for an option regardless of input cancels out."""
        from ..prompting import load_prompt

        llm, prompt = self.llm, load_prompt(INTENT_PROMPT)
        assert llm is not None
        options = ("list", "count")  # "group" only comes with an attribute to group by, found above
        baseline = llm.choose(prompt.render(question="N/A"), options).logprobs
        choice = llm.choose(prompt.render(question=question), options)
        if not (baseline and choice.logprobs):
            return choice.option  # type: ignore[return-value]
        scores = {o: choice.logprobs[o] - baseline[o] for o in options}
        return max(scores, key=scores.__getitem__)  # type: ignore[return-value]


def merge(previous: GraphQuery, new: GraphQuery) -> GraphQuery:
    """A follow-up narrows or redirects the previous query: its types replace the old ones when
    it names any, its filters replace old filters on the same attributes and add to the rest."""
    replaced = {a for f in new.filters for a in f.attributes}
    filters = [f for f in previous.filters if not replaced & set(f.attributes)] + new.filters
    return GraphQuery(
        product_types=new.product_types or previous.product_types,
        filters=filters,
        title_terms=list(dict.fromkeys(previous.title_terms + new.title_terms)),
        intent=new.intent,
        group_by=new.group_by,
        show=list(dict.fromkeys(previous.show + new.show)),
        limit=new.limit,
    )
