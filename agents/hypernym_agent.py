"""Hypernym agent: retrieve candidate parents from the taxonomy collection, let the model choose.

For a new type name the Chroma taxonomy collection gives the most similar nodes. A similar
node is either the parent itself or, more often, a would-be sibling, so the candidates are
those nodes and their parents, after the nodes named with the type's head word and their
parents, by name, plus "none" (30 in all: on 200 Shopify leaves of seed 1 the parent is among
them for 84%, against 70% for the first 10 of the 12 nearest nodes and their parents). The
model scores each candidate name as the continuation of "Parent:" by log-probability
(`LLM.choose`, a token trie: names sharing a prefix share its evaluation). Names, not full
paths, keep the options a few tokens long: on a busy CPU every scored token counts.
Candidates are ranked by their probability normalised over all options; the chosen one's
probability is its confidence. When the model chooses "none", the nodes are still ranked but
all their scores are low.

Templates receive `nearest_examples` (the retrieved leaves, as "name -> parent name"
demonstrations, nearest last: a new type is usually a leaf, and a similar leaf is often a
sibling whose parent is the answer; a retrieved inner node would more often be the answer
itself, and its own parent, the grandparent, is what the model would copy) and
`fixed_examples` (drawn once from the taxonomy, the same for every query, so their prefix
is evaluated once): `hypernym@v1` shows the fixed set, `hypernym@v2` the nearest.

With an `adapter` (`shelfgraph tune hypernym`) the agent is a judge: no demonstration, no
"none", and each candidate is asked on its own, " <candidate>?" after "Parent:", answered
" yes" or " no"; its score is P(yes) (the softmax of the two answers' logits, what the adapter
was tuned on). All candidates of a name are one `choose` call: the token trie evaluates the
prompt once and each candidate's few tokens once, so a name costs about what the untuned
ranking costs. It is tuned on the taxonomy's own leaves, each asked as if it were new (itself
left out of retrieval): its parent " yes"; " no" for its grandparent, its most similar sibling
and the most similar other candidates (hard negatives: the mistakes a ranking by similarity
makes).
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

from shelfgraph.context import StepContext
from shelfgraph.errors import UsageError
from shelfgraph.models import TaxonomyNode
from shelfgraph.stages.hypernym import HypernymStep
from shelfgraph.steps import NotEnoughData, Scored
from shelfgraph.tuning.example import Piece, TuneExample
from shelfgraph.typenames import head_word

from ._llm_step import YES_NO, LLMStepMixin, yes_no_example

NONE = "none"
ASK = "?"  # ends a judged candidate: " Coffee?" then " yes" / " no"


class HypernymAgent(LLMStepMixin, HypernymStep):
    def __init__(self, context: StepContext | None = None, prompt: str | None = None, retrieve: int = 30,
                 candidates: int = 30, examples: int = 4, seed: int = 0, negatives: int = 3,
                 adapter: str | None = None):
        """`negatives`: the " no" examples per tuning leaf (grandparent, sibling, nearest others)."""
        self._setup_llm(context, prompt, adapter, default="hypernym@v2")
        self.retrieve, self.max_candidates, self.seed = retrieve, candidates, seed
        self.examples, self.negatives = 0 if self.adapter else examples, negatives
        self.nodes: dict[str, TaxonomyNode] = {}

    def initialize(self, taxonomy: Sequence[TaxonomyNode]) -> None:
        self.nodes = {node.id: node for node in taxonomy}
        if not self.nodes:
            raise NotEnoughData("the hypernym agent needs a non-empty taxonomy (--taxonomy)")
        self.inner = {node.parent for node in self.nodes.values() if node.parent}
        self.heads = {node.id: head_word(node.name) for node in self.nodes.values()}
        from shelfgraph.retrieval.index import taxonomy_set

        self.index = self._index()
        self.taxonomy_set = taxonomy_set(list(self.nodes.values()))  # candidates come from this taxonomy only
        self.index.index_taxonomy(list(self.nodes.values()), self.taxonomy_set)
        placed = sorted(n.id for n in self.nodes.values() if n.parent in self.nodes)
        picks = random.Random(self.seed).sample(placed, min(self.examples, len(placed)))
        self._fixed = [self._demo(self.nodes[i]) for i in picks]

    def _demo(self, node: TaxonomyNode) -> dict[str, str]:
        return {"name": node.name, "parent": self.nodes[node.parent].name}

    def _retrieved(self, name: str) -> list[tuple[TaxonomyNode, float]]:
        """Every node of this step's taxonomy with its similarity to `name`, most similar first."""
        hits = self.index.taxonomy_candidates(name, k=len(self.nodes), scope=self.taxonomy_set)
        return [(self.nodes[node_id], score) for node_id, score in hits]

    def _candidates(self, name: str, scored: list[tuple[TaxonomyNode, float]]) -> list[str]:
        """Each node with its parent before it (a similar node is more often a sibling than the
        parent): first the nodes named with the name's head word ("cold brew coffee" ->
        "Coffee", "Iced Coffee"), a third of the `candidates` at most, then the `retrieve`
        nodes most similar to the name; `candidates` in all, each group most similar first."""
        head = head_word(name)
        lexical = _with_parents([node for node, _ in scored if self.heads[node.id] == head], self.nodes)
        ids = dict.fromkeys(lexical[: self.max_candidates // 3])
        ids.update(dict.fromkeys(_with_parents([node for node, _ in scored[: self.retrieve]], self.nodes)))
        return list(ids)[: self.max_candidates]

    def candidates(self, names: Sequence[str], k: int = 5) -> list[list[str]]:
        return [self._candidates(name, self._retrieved(name)) for name in names]

    def _judge_prompt(self, name: str) -> str:
        return str(self.prompt.render(name=name, nearest_examples=[], fixed_examples=[]))

    def tuning_examples(self, train: Sequence[str]) -> list[TuneExample]:
        """For each leaf id of the taxonomy (after `initialize`), asked as a new type with
        itself out of retrieval: its parent answered yes; no for its grandparent, its most
        similar sibling and the most similar other candidates, `negatives` in all (a node
        named as the parent is never a negative: the same question cannot have both answers)."""
        examples = []
        for leaf_id in train:
            node = self.nodes[leaf_id]
            parent = self.nodes[node.parent]
            scored = [(n, s) for n, s in self._retrieved(node.name) if n.id != leaf_id]
            siblings = [n.id for n, _ in scored if n.parent == parent.id]
            hard = [parent.parent, *siblings[:1], *self._candidates(node.name, scored)]
            no = [i for i in dict.fromkeys(hard) if i in self.nodes and self.nodes[i].name != parent.name]
            prompt = self._judge_prompt(node.name)
            for answer, node_id in [(True, parent.id), *((False, i) for i in no[: self.negatives])]:
                example = yes_no_example(prompt, answer, source=f"{leaf_id}|{node_id}")
                example.pieces.insert(0, Piece(text=f" {self.nodes[node_id].name}{ASK}"))
                examples.append(example)
        return examples

    def score(self, names: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[list[float | None]]:
        """The tuned judge's P(yes) for each given candidate (the untuned agent ranks its own
        set against "none": it has no score for a node alone)."""
        if not self.adapter:
            raise UsageError("the hypernym agent scores given candidates only with an adapter "
                             "(shelfgraph tune hypernym)")
        scored = []
        for name, ids in zip(names, candidates):  # nodes of one name get that name's score
            known = [i for i in ids if i in self.nodes]
            judged = {self.nodes[s.label].name: s.score for s in self._judged(name, known)} if known else {}
            scored.append([judged.get(self.nodes[i].name) if i in self.nodes else None for i in ids])
        return scored

    def _judged(self, name: str, candidates: Sequence[str]) -> list[Scored]:
        """The tuned judge: P(yes) for each candidate, one `choose` over "<name>? yes|no"."""
        options: dict[str, str] = {}
        for node_id in candidates:  # equal names: the more similar node keeps it
            options.setdefault(self.nodes[node_id].name, node_id)
        with self.timed_item():
            choice = self.llm.choose(self._judge_prompt(name),
                                     [f"{o}{ASK} {a}" for o in options for a in YES_NO], end="")
        if not choice.logprobs:  # a server without log-probabilities: its pick first, no scores
            picked = choice.option.rsplit(ASK, 1)[0]
            return [Scored(label=options[o]) for o in sorted(options, key=lambda o: o != picked)]
        logprobs = choice.logprobs
        p_yes = {o: 1.0 / (1.0 + math.exp(logprobs[f"{o}{ASK} no"] - logprobs[f"{o}{ASK} yes"])) for o in options}
        return [Scored(label=options[o], score=p_yes[o]) for o in sorted(options, key=lambda o: -p_yes[o])]

    def rank(self, names: Sequence[str], k: int = 5) -> list[list[Scored]]:
        if not self.nodes:
            raise RuntimeError("the hypernym agent has no taxonomy: call initialize(nodes) first")
        ranked = []
        for name in names:
            scored = self._retrieved(name)
            candidates = self._candidates(name, scored)
            if not candidates:
                ranked.append([])
                continue
            if self.adapter:
                ranked.append(self._judged(name, candidates)[:k])
                continue
            similar = [node for node, _ in scored[: self.retrieve]]
            leaves = [n for n in similar if n.parent in self.nodes and n.id not in self.inner]
            nearest = [self._demo(n) for n in reversed(leaves[: self.examples])]
            rendered = self.prompt.render(name=name, nearest_examples=nearest, fixed_examples=self._fixed)
            options: dict[str, str] = {}
            for node_id in candidates:  # equal names: the more similar node keeps it
                options.setdefault(self.nodes[node_id].name, node_id)
            options.pop(NONE, None)
            with self.timed_item():
                choice = self.llm.choose(rendered, [*options, NONE])
            if choice.logprobs:
                probabilities = _normalised(choice.logprobs)
                order = sorted(options, key=lambda option: -probabilities[option])
            else:  # a server without log-probabilities: its choice first, then by similarity, no scores
                probabilities = {}
                order = sorted(options, key=lambda option: option != choice.option)
            ranked.append([Scored(label=options[o], score=probabilities.get(o)) for o in order[:k]])
        return ranked


def _with_parents(nodes: Sequence[TaxonomyNode], known: dict[str, TaxonomyNode]) -> list[str]:
    """The nodes' ids in order, each after its parent's, without repeats."""
    return list(dict.fromkeys(i for node in nodes for i in (node.parent, node.id) if i in known))


def _normalised(logprobs: dict[str, float]) -> dict[str, float]:
    """Each option's probability among the options (a softmax of their log-probabilities)."""
    top = max(logprobs.values())
    weights = {option: math.exp(value - top) for option, value in logprobs.items()}
    total = sum(weights.values())
    return {option: weight / total for option, weight in weights.items()}


def _factory(context: StepContext | None = None, **config: Any) -> HypernymAgent:
    return HypernymAgent(context=context, **config)


def register_steps(register) -> None:
    register("hypernym", "agent", _factory,
             default_config={"prompt": None, "retrieve": 30, "candidates": 30, "examples": 4, "seed": 0,
                             "negatives": 3, "adapter": None},
             description="Chroma retrieves similar taxonomy nodes; the LLM scores their names and their parents' "
                         "names (and 'none') by log-probability (hypernym@v1: fixed demonstrations; "
                         "hypernym@v2: the retrieved nodes with their parents); with an adapter, P(yes) "
                         "per candidate")
