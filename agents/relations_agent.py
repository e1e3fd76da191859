"""Relations agent: which attributes apply to a product type, and how important each is.

Candidates come from retrieval: the Chroma taxonomy collection gives the known types most
similar to the query ("name: root > ... > name"), and the attributes of those types and of
the query's parent, most frequent first, form the candidate list. The model then answers one
yes/no question per candidate, a form line "<attribute>:" after the type; `LLM.choose`
scores " yes" against " no" by log-probability and the probability of "yes" is the
applicability. Every question shares the prompt up to its last line, so the model evaluates
the type's context once and each further question costs a few tokens. For each attribute
judged applicable, a second question ("high" or "low") gives its importance.

Templates receive the query (`name`, `path`), the `candidates`, the `question`
("applies" or "importance") with its `attribute`, and two kinds of demonstrations, each a
known type with its answers over the candidates: `nearest_examples` (the retrieved similar
types, nearest last) and `fixed_examples` (drawn once from the known types).
`relations@v1` shows the fixed ones, `relations@v2` the nearest; with an `adapter` (`shelfgraph
tune relations`) none. It is tuned on the known types' own applicability questions: each known
type asked as if it were new (itself left out of its similar types), over the candidates it
would get, yes for the attributes it lists.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Sequence

from shelfgraph.context import StepContext
from shelfgraph.models import TaxonomyNode, normalise_label
from shelfgraph.stages.relations import RelationStep
from shelfgraph.steps import AttributeScore, NotEnoughData, RelationQuery

from shelfgraph.tuning.example import TuneExample

from ._llm_step import LLMStepMixin, yes_no_example

SEPARATOR = " > "
APPLIES, IMPORTANCE = "applies", "importance"


def nodes_from_paths(keys: Sequence[str]) -> list[TaxonomyNode]:
    """A taxonomy rebuilt from "A > B > name" keys: one node per distinct prefix, id = the prefix."""
    nodes: dict[str, TaxonomyNode] = {}
    for key in keys:
        names = [part.strip() for part in key.split(SEPARATOR)]
        for depth in range(1, len(names) + 1):
            node_id = SEPARATOR.join(names[:depth])
            parent = SEPARATOR.join(names[: depth - 1]) or None
            nodes.setdefault(node_id, TaxonomyNode(id=node_id, name=names[depth - 1], parent=parent))
    return list(nodes.values())


class RelationsAgent(LLMStepMixin, RelationStep):
    def __init__(self, context: StepContext | None = None, prompt: str | None = None, neighbours: int = 4,
                 max_candidates: int = 10, examples: int = 2, rate_importance: bool = True, seed: int = 0,
                 adapter: str | None = None):
        self._setup_llm(context, prompt, adapter, default="relations@v2")
        self.neighbours, self.max_candidates = neighbours, max_candidates
        self.examples = 0 if self.adapter else examples
        self.rate_importance, self.seed = rate_importance, seed
        self.known: dict[str, list[str]] = {}

    def initialize(self, known: dict[str, list[str]], taxonomy: Sequence[TaxonomyNode] = ()) -> None:
        """`known` keys are "A > B > name" paths (or plain names); without a taxonomy, one is
        rebuilt from the keys so that retrieval sees each type with its path."""
        from shelfgraph.retrieval.index import taxonomy_paths, taxonomy_set

        self.known = {key: list(attributes) for key, attributes in known.items() if attributes}
        if not self.known:
            raise NotEnoughData("the relations agent needs types with known attributes "
                                "(labelled products with a type)")
        nodes = list(taxonomy)
        paths = taxonomy_paths(nodes)
        self.key_of = {node_id: key for node_id, names in paths.items() if (key := SEPARATOR.join(names)) in self.known}
        # Keys that are plain type names (the pipeline's labelled types) find the taxonomy node
        # of that name; keys found nowhere in the taxonomy are indexed as nodes of their own,
        # so that retrieval can return every known type.
        by_name = {normalise_label(node.name): node.id for node in nodes}
        for key in sorted(set(self.known) - set(self.key_of.values())):
            node_id = by_name.get(normalise_label(key))
            if node_id is not None and node_id not in self.key_of:
                self.key_of[node_id] = key
        unplaced = sorted(set(self.known) - set(self.key_of.values()))
        own = [node for node in nodes_from_paths(unplaced) if node.id not in paths]
        self.key_of.update({node.id: node.id for node in own if node.id in self.known})
        self.index = self._index()
        self.taxonomy_set = taxonomy_set(nodes + own)  # neighbours come from these types only
        self.index.index_taxonomy(nodes + own, self.taxonomy_set)
        picks = random.Random(self.seed).sample(sorted(self.known), min(self.examples, len(self.known)))
        vocabulary = sorted({a for key in picks for a in self.known[key]})
        self._fixed = [self._demo(key, vocabulary) for key in picks]

    def _demo(self, key: str, attributes: Sequence[str]) -> dict[str, Any]:
        have = set(self.known[key])
        return {"path": key, "answers": [{"attribute": a, "answer": "yes" if a in have else "no"} for a in attributes]}

    def _similar(self, query: RelationQuery, exclude: str | None = None) -> list[str]:
        """Keys of the known types most similar to the query, most similar first (nodes of the
        taxonomy that are not known types are skipped, and the key `exclude`)."""
        text = f"{query.type_name}: {SEPARATOR.join([*query.path, query.type_name])}"
        hits = self.index.taxonomy_candidates(text, k=self.neighbours + 20, scope=self.taxonomy_set)
        keys = [self.key_of[node_id] for node_id, _ in hits if node_id in self.key_of and self.key_of[node_id] != exclude]
        return list(dict.fromkeys(keys))[: self.neighbours]

    def _candidates(self, query: RelationQuery, similar: list[str]) -> list[str]:
        """Attributes of the parent and the similar types, most often listed first."""
        counts: Counter[str] = Counter()
        parents = [SEPARATOR.join(query.path), normalise_label(query.path[-1])] if query.path else []
        parent = next((key for key in parents if key in self.known), None)
        for key in ([parent] if parent else []) + similar:
            counts.update(self.known[key])
        return [a for a, _ in counts.most_common(self.max_candidates)]

    def tuning_examples(self, train: Sequence[str]) -> list[TuneExample]:
        """For each known type's key ("A > B > name", after `initialize`): the applicability
        question over each candidate it would get as a new type, yes for its own attributes."""
        examples = []
        for key in train:
            *path, name = key.split(SEPARATOR)
            query = RelationQuery(type_name=name, path=path)
            variables = self._variables(query, self._similar(query, exclude=key))
            for attribute in variables["candidates"]:
                prompt = str(self.prompt.render(question=APPLIES, attribute=attribute, **variables))
                examples.append(yes_no_example(prompt, attribute in self.known[key], source=f"{key}|{attribute}"))
        return examples

    def _variables(self, query: RelationQuery, similar: list[str]) -> dict[str, Any]:
        candidates = self._candidates(query, similar)
        nearest = [self._demo(key, candidates) for key in reversed(similar[: self.examples])]
        return {"name": query.type_name, "path": SEPARATOR.join([*query.path, query.type_name]),
                "candidates": candidates, "nearest_examples": nearest, "fixed_examples": self._fixed}

    def predict(self, queries: Sequence[RelationQuery]) -> list[list[AttributeScore]]:
        if not self.known:
            raise RuntimeError("the relations agent is not initialised: call initialize(known) first")
        predicted = []
        for query in queries:
            with self.timed_item():
                predicted.append(self._predict_one(query))
        return predicted

    def _predict_one(self, query: RelationQuery) -> list[AttributeScore]:
        variables = self._variables(query, self._similar(query))
        candidates = variables["candidates"]

        def probability(question: str, attribute: str, options: list[str]) -> float:
            rendered = self.prompt.render(question=question, attribute=attribute, **variables)
            choice = self.llm.choose(rendered, options, prefix=" ", end="")
            if choice.confidence is None:  # a server without log-probabilities: the answer itself
                return float(choice.option == options[0])
            return choice.confidence if choice.option == options[0] else 1.0 - choice.confidence

        applies = {a: probability(APPLIES, a, ["yes", "no"]) for a in candidates}
        importance = {a: probability(IMPORTANCE, a, ["high", "low"])
                      for a in candidates if self.rate_importance and applies[a] >= 0.5}
        return sorted((AttributeScore(attribute=a, applicable=p, importance=importance.get(a))
                       for a, p in applies.items()), key=lambda item: -item.applicable)


def _factory(context: StepContext | None = None, **config: Any) -> RelationsAgent:
    return RelationsAgent(context=context, **config)


def register_steps(register) -> None:
    register("relations", "agent", _factory,
             default_config={"prompt": None, "neighbours": 4, "max_candidates": 10, "examples": 2,
                             "rate_importance": True, "seed": 0, "adapter": None},
             description="candidates from the attributes of similar known types (Chroma); the LLM answers "
                         "yes/no per attribute by log-probability and rates importance high/low "
                         "(relations@v1: fixed demonstrations; relations@v2: the similar types)")
