"""Property-based checks of the invariants every strategy keeps, on random graphs with and without cycles."""

from __future__ import annotations

import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerlab.graph import ClosureGraph
from layerlab.popularity import Popularity
from layerlab.strategies import Context, available, check_layers, get_strategy

NAMES = [f"/nix/store/{i:04d}{'abcdefgh'[i % 8]}-pkg{i % 7}-{i % 3}.0" for i in range(40)]


@st.composite
def graphs(draw, acyclic: bool):
    n = draw(st.integers(min_value=1, max_value=24))
    edges = set()
    for i in range(n):
        targets = draw(st.lists(st.integers(min_value=0, max_value=n - 1), max_size=4))
        for j in targets:
            if acyclic and j <= i:
                continue
            if j != i:
                edges.add((i, j))
    sizes = draw(st.lists(st.integers(min_value=0, max_value=10**9), min_size=n, max_size=n))
    records = [
        {
            "path": NAMES[i],
            "narSize": sizes[i],
            "references": [NAMES[i], *(NAMES[j] for (a, j) in sorted(edges) if a == i)],
        }
        for i in range(n)
    ]
    name_roots = draw(st.booleans())
    roots = None
    if name_roots:
        roots = sorted({NAMES[i] for i in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))})
    return records, roots


popularities = st.dictionaries(
    st.sampled_from([p.split("-", 1)[1] for p in NAMES]), st.integers(min_value=0, max_value=5000), max_size=10
)

STRATEGY_NAMES = sorted(available())


def run_all(records, roots, pop, budget):
    graph = ClosureGraph.from_records(records, roots)
    ctx = Context(Popularity(pop))
    for name in STRATEGY_NAMES:
        strategy = get_strategy(name)
        first = strategy.group(graph, ctx, budget)  # group() itself runs check_layers
        check_layers(graph, first, budget, who=name)
        assert sum(len(layer.paths) for layer in first) == len(graph.paths)
        # Deterministic, and independent of the order of the input records.
        shuffled = list(records)
        random.Random(budget).shuffle(shuffled)
        again = strategy.group(ClosureGraph.from_records(shuffled, roots), ctx, budget)
        assert again == first, name


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=240, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.booleans().flatmap(lambda acyclic: graphs(acyclic=acyclic)), popularities, st.integers(min_value=1, max_value=12)
)
def test_invariants_on_random_dags_and_graphs_with_cycles(g, pop, budget):
    records, roots = g
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_all(records, roots, pop, budget)


@SETTINGS
@given(graphs(acyclic=False))
def test_closure_size_counts_each_path_once(g):
    records, roots = g
    graph = ClosureGraph.from_records(records, roots)
    for i in range(len(graph.paths)):
        members = graph.closure_of([i])
        assert graph.closure_size[i] == sum(graph.nar_size[j] for j in members)
        bits = graph.closure_bits[i]
        assert [j for j in range(len(graph.paths)) if bits >> j & 1] == members
        # ancestor_bits is the transpose: j reaches i exactly when i is in j's closure.
        users = graph.closure_of([i], reverse=True)
        assert [j for j in range(len(graph.paths)) if graph.ancestor_bits[i] >> j & 1] == users
        assert all(graph.ancestor_bits[j] >> i & 1 for j in members)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_keeps_unreachable_paths(name):
    records = [
        {"path": NAMES[0], "narSize": 5, "references": [NAMES[1]]},
        {"path": NAMES[1], "narSize": 5, "references": []},
        {"path": NAMES[2], "narSize": 7, "references": []},
    ]
    graph = ClosureGraph.from_records(records, [NAMES[0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for budget in (1, 2, 5):
            layers = get_strategy(name).group(graph, Context(Popularity({})), budget)
            assert sorted(p for layer in layers for p in layer.paths) == sorted(NAMES[:3])


def test_check_layers_names_each_problem():
    from layerlab.errors import StrategyError
    from layerlab.strategies import Layer

    graph = ClosureGraph.from_records([{"path": p, "narSize": 1} for p in NAMES[:3]])
    a, b, c = graph.paths
    good = [Layer((a, b), 2), Layer((c,), 1)]
    check_layers(graph, good, 2)
    cases = [
        ([Layer((a, b), 2), Layer((c,), 1)], 1, "2 layers for a budget of 1"),
        ([Layer((a, b, c), 3), Layer((), 0)], None, "an empty layer"),
        ([Layer((b, a), 2), Layer((c,), 1)], None, "not sorted"),
        ([Layer((a, b), 2), Layer((b, c), 2)], None, f"put {b} in two layers"),
        ([Layer((a,), 1), Layer((c,), 1)], None, f"left {b} out of every layer"),
        ([Layer((a, b), 2), Layer((c, "/nix/store/zzzz-x"), 1)], None, "which is not in the graph"),
        ([Layer((a, a), 2), Layer((c,), 1)], None, f"put {a} in two layers"),
    ]
    for layers, budget, message in cases:
        with pytest.raises(StrategyError, match=message):
            check_layers(graph, layers, budget, who="t")
