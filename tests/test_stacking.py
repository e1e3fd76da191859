"""Stacked hybrids (`shelfgraph.stacking`): a logistic regression on (agent, baseline) scores
fitted on validation is never below the baseline there, gains where the agent knows something
the baseline does not, and is what a hybrid given `stack` returns."""

from __future__ import annotations

import random

import pytest

from shelfgraph.eval.metrics import aupr
from shelfgraph.registry import create
from shelfgraph.stacking import BASELINE_ONLY, Stack, fit_stack
from shelfgraph.steps import Pair


def _scores(seed: int, n: int = 200) -> tuple[list[int], list[float], list[float]]:
    """Labels, a noisy baseline, and an agent that is informative, useless or misleading."""
    rng = random.Random(seed)
    labels = [int(rng.random() < 0.3) for _ in range(n)]
    baseline = [min(max(0.5 * y + 0.25 + rng.gauss(0, 0.25), 0.0), 1.0) for y in labels]
    kind = seed % 3
    agent = [min(max((0.8 * y + 0.1 if kind == 0 else 0.5 if kind == 1 else 0.9 - 0.8 * y) + rng.gauss(0, 0.3), 0.0),
                 1.0) for y in labels]
    return labels, agent, baseline


@pytest.mark.parametrize("seed", range(12))
def test_a_stacked_hybrid_is_never_below_its_baseline_on_the_split_it_was_fitted_on(seed):
    labels, agent, baseline = _scores(seed)
    stack = fit_stack(labels, agent, baseline, aupr)
    stacked = [stack(a, b) for a, b in zip(agent, baseline)]
    assert aupr(labels, stacked) >= aupr(labels, baseline)
    if seed % 3 == 0:  # an informative agent is used, and lifts the ranking
        assert stack.agent > 0
        assert aupr(labels, stacked) > aupr(labels, baseline) + 0.02


def test_a_stack_that_would_rank_worse_than_the_baseline_is_not_kept():
    """A baseline that ranks every item right with timid scores, an agent right 80% of the time
    with extreme ones: the regression (regularised) trusts the agent and ranks worse."""
    rng = random.Random(0)
    labels = [int(rng.random() < 0.3) for _ in range(200)]
    baseline = [0.5 + (0.01 if y else -0.01) + rng.uniform(-0.009, 0.009) for y in labels]
    agent = [0.999 if (y == 1) == (rng.random() < 0.8) else 0.001 for y in labels]
    unguarded = fit_stack(labels, agent, baseline, lambda *_: 0.0)  # a measure that never refuses
    assert aupr(labels, [unguarded(a, b) for a, b in zip(agent, baseline)]) < aupr(labels, baseline) == 1.0
    kept = fit_stack(labels, agent, baseline, aupr)
    assert kept == BASELINE_ONLY and [kept(a, b) for a, b in zip(agent, baseline)] == baseline


def test_one_class_or_missing_scores_give_no_stack_and_a_missing_side_lets_the_other_stand():
    assert fit_stack([1, 1, 1], [0.2, 0.9, 0.5], [0.4, 0.6, 0.7], aupr) == BASELINE_ONLY
    assert fit_stack([1, 0, 1], [None, None, None], [0.4, 0.6, 0.7], aupr) == BASELINE_ONLY
    stack = Stack(intercept=0.0, agent=1.0, baseline=1.0)
    assert stack(None, 0.3) == 0.3 and stack(0.8, None) == 0.8
    assert stack(0.5, 0.5) == pytest.approx(0.5) and stack(0.9, 0.9) > 0.9  # two agreeing sides reinforce
    assert 0.0 < stack(0.0, 0.0) < 1e-6 and stack(1.0, 1.0) > 1 - 1e-6  # clipped, never infinite


def test_a_hybrid_given_a_stack_combines_its_parts_scores_by_it():
    """The real synonym hybrid (baseline and untuned agent) on two pairs."""
    train = [Pair(a=a, b=b, label=y, attribute="Cache") for a, b, y in
             [("1M", "1MB", 1), ("512K", "512KB", 1), ("2M", "2MB", 1), ("1GB", "512KB", 0), ("4MB", "64MB", 0),
              ("1M", "512", 0)]]
    pairs = [Pair(a="256", b="256MB", attribute="Cache"), Pair(a="8MB", b="2MB", attribute="Cache")]
    coefficients = {"intercept": -0.5, "agent": 0.7, "baseline": 1.9}
    hybrid = create("synonyms", "hybrid", stack=coefficients)
    hybrid.initialize(train)
    got = hybrid.score(pairs)
    agent, baseline = hybrid.parts.agent.score(pairs), hybrid.parts.baseline.score(pairs)
    assert got == [pytest.approx(Stack(**coefficients)(a, b)) for a, b in zip(agent, baseline)]
    assert got != [pytest.approx(0.4 * a + 0.6 * b) for a, b in zip(agent, baseline)]  # not the blend


def test_the_hypernym_stack_ranks_one_candidate_set_by_both_sides_scores(demo_data):
    """The baseline scores given candidates as its ranking does; the stacked ranking orders
    the candidates by the stack of both sides' scores, not by either side alone."""
    from shelfgraph.hybrids.combine import stack_ranking
    from shelfgraph.ingest import read_taxonomy
    from shelfgraph.models import TaxonomyNode

    nodes = [item for item in read_taxonomy(demo_data / "taxonomy") if isinstance(item, TaxonomyNode)]
    baseline = create("hypernym", "baseline")
    baseline.initialize(nodes)
    names = ["cold brew coffee", "running shoes"]
    ranked = baseline.rank(names, k=4)
    candidates = [[s.label for s in reversed(r)] + ["no-such-node"] for r in ranked]
    scores = baseline.score(names, candidates)
    assert scores == [[pytest.approx(s.score) for s in reversed(r)] + [None] for r in ranked]
    stack = Stack(intercept=0.0, agent=2.0, baseline=0.5)
    agent = [0.9, 0.1, 0.5, 0.3, 0.2]  # the agent prefers the baseline's 4th
    stacked = stack_ranking(candidates[0], agent, scores[0], stack, k=3)
    assert [s.label for s in stacked] == [candidates[0][0], candidates[0][2], candidates[0][3]]
    assert [s.score for s in stacked] == [pytest.approx(stack(agent[i], scores[0][i])) for i in (0, 2, 3)]
    with pytest.raises(Exception, match="only with an adapter"):  # the untuned agent has no score for a node alone
        create("hypernym", "agent").score(names, candidates)


def test_a_stacked_relations_hybrid_stacks_the_applicability_both_sides_scored(demo_data):
    """The real relations hybrid (baseline of one neighbour, untuned agent) on two hidden demo
    categories: a stack gives an attribute both sides scored the stack of their scores and
    one only a side scored that side's; BASELINE_ONLY gives the baseline's scores exactly."""
    from shelfgraph.eval.tasks import category_queries, hidden_categories, known_categories
    from shelfgraph.ingest import read_taxonomy
    from shelfgraph.models import TaxonomyNode

    nodes = [item for item in read_taxonomy(demo_data / "taxonomy") if isinstance(item, TaxonomyNode)]
    hidden = hidden_categories(nodes, 2, 0)
    hidden_ids = {n.id for n in hidden}
    queries = category_queries(nodes, hidden)

    def hybrid(stack: dict[str, float]):
        step = create("relations", "hybrid", stack=stack, baseline={"neighbours": 1},
                      agent={"max_candidates": 6, "rate_importance": False})
        step.initialize(known_categories(nodes, hidden_ids), [n for n in nodes if n.id not in hidden_ids])
        return step

    coefficients = {"intercept": -0.5, "agent": 0.7, "baseline": 1.9}
    stacked = hybrid(coefficients)
    got = stacked.predict(queries)
    agent, baseline = stacked.parts.agent.predict(queries), stacked.parts.baseline.predict(queries)
    sides = {"both": 0, "agent": 0, "baseline": 0}
    for row, a_row, b_row in zip(got, agent, baseline):
        a_scores, b_scores = {s.attribute: s.applicable for s in a_row}, {s.attribute: s.applicable for s in b_row}
        assert {s.attribute for s in row} == set(a_scores) | set(b_scores)
        for score in row:
            a, b = a_scores.get(score.attribute), b_scores.get(score.attribute)
            sides["both" if a is not None and b is not None else "agent" if a is not None else "baseline"] += 1
            expected = Stack(**coefficients)(a, b) if a is not None and b is not None else a if b is None else b
            assert score.applicable == pytest.approx(expected)
        assert [s.applicable for s in row] == sorted((s.applicable for s in row), reverse=True)
    assert all(sides.values())  # each case met
    only_baseline = hybrid(BASELINE_ONLY.model_dump()).predict(queries)
    assert [[(s.attribute, s.applicable) for s in row] for row in only_baseline] == \
        [[(s.attribute, s.applicable) for s in row] for row in baseline]
