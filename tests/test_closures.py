"""Components, closures and auto-layer's fast paths against plain references.

Each fast algorithm (the iterator-based Tarjan, closure bit sets, blocked
closure sizes, the layer-state auto-layer) is compared with a slow version
that is correct by inspection: recursive Tarjan, breadth-first search per
path, nixpkgs' auto-layer transcribed step by step.  Random graphs are dense
enough to have many cycles, and sizes repeat so ties matter.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import deque
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import layerlab.graph as graph_module
import layerlab.strategies.auto_layer as auto_layer_module
from layerlab.graph import ClosureGraph, _derived_roots, _tarjan
from layerlab.sources.files import load_graph
from layerlab.strategies.auto_layer import AutoLayer, auto_layer_groups, auto_layer_split

from .conftest import tools_required

ROOT = Path(__file__).resolve().parent.parent
DEBIAN = ROOT / "data" / "debian"


def random_graph(rng: random.Random, n: int, density: float, sizes=(0, 1, 2, 3, 5, 8, 100)) -> ClosureGraph:
    recs = [
        {
            "path": f"/nix/store/{i:04d}-p{i}",
            "narSize": rng.choice(sizes),
            "references": [f"/nix/store/{j:04d}-p{j}" for j in range(n) if j != i and rng.random() < density],
        }
        for i in range(n)
    ]
    return ClosureGraph.from_records(recs)


def random_graphs(seed: int, count: int, max_n: int = 30):
    rng = random.Random(seed)
    for _ in range(count):
        n = rng.randint(1, max_n)
        yield random_graph(rng, n, rng.choice([0.02, 0.08, 0.2, 0.4]))


def reference_tarjan(refs) -> list[tuple[int, ...]]:
    """Textbook recursive Tarjan, same visiting order (start nodes ascending, references in order)."""
    sys.setrecursionlimit(10_000)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    out: list[tuple[int, ...]] = []

    def visit(v: int) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in refs[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(tuple(sorted(comp)))

    for v in range(len(refs)):
        if v not in index:
            visit(v)
    return out


def bfs(refs, start: int) -> set[int]:
    seen = {start}
    todo = deque([start])
    while todo:
        for j in refs[todo.popleft()]:
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def load_bench():
    spec = importlib.util.spec_from_file_location(
        "bench_auto_layer_for_closures", ROOT / "benchmarks" / "bench_auto_layer.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BENCH = load_bench()


# ------------------------------------------------------------ components
def test_tarjan_by_hand():
    # 0 -> 1 -> 2 -> 1 (cycle {1, 2}), 2 -> 3; 4 -> 0.  Dependencies first: {3}, {1,2}, {0}, {4}.
    refs = [(1,), (2,), (1, 3), (), (0,)]
    assert _tarjan(refs) == ((3,), (1, 2), (0,), (4,))
    assert _derived_roots(5, refs) == [4]
    # A cycle nothing references is a root through its smallest path.
    assert _derived_roots(3, [(1,), (0,), ()]) == [0, 2]


def test_tarjan_equals_recursive_reference_and_orders_dependencies_first():
    graphs = list(random_graphs(11, 400)) + [load_graph(DEBIAN / "bash-coreutils.graph.json")]
    for g in graphs:
        sccs = _tarjan(g.refs)
        assert list(sccs) == reference_tarjan(g.refs)
        assert g.sccs == sccs
        position = {i: c for c, comp in enumerate(sccs) for i in comp}
        for i, rs in enumerate(g.refs):
            assert all(position[j] <= position[i] for j in rs)  # references come first
        for comp in sccs:
            assert list(comp) == sorted(comp)
            reach = bfs(g.refs, comp[0])
            # Same component = mutually reachable.
            assert {j for j in reach if comp[0] in bfs(g.refs, j)} == set(comp)
        assert g.cycles == tuple(sorted(c for c in sccs if len(c) > 1))


# -------------------------------------------------------------- closures
def test_closure_bits_equal_breadth_first_search():
    for g in random_graphs(12, 300):
        for i, bits in enumerate(g.closure_bits):
            assert bits == sum(1 << j for j in bfs(g.refs, i))


@pytest.mark.parametrize("compiled", [False, True], ids=["bit-sets", "per-target-search"])
def test_ancestor_counts_equal_ancestor_bit_sets(monkeypatch, compiled):
    """Both ways of counting ancestors against the population counts of the
    quadratic ancestor bit sets, on random graphs full of cycles."""
    if compiled:
        monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
        monkeypatch.setattr(graph_module, "_COUNT_WORDS", 1)  # several batches
    rng = random.Random(21)
    for g in random_graphs(21, 200, max_n=90):
        counts = g.ancestor_counts(range(len(g.paths)))  # before anything computes the components
        expected = [bits.bit_count() for bits in g.ancestor_bits]
        assert counts == expected
        some = rng.sample(range(len(g.paths)), rng.randint(0, len(g.paths)))
        assert g.ancestor_counts(some) == [expected[t] for t in some]
        reverse_bfs = [len(bfs(g.referrers, t)) for t in range(len(g.paths))]
        assert expected == reverse_bfs


def test_referrers_of_large_graphs_equal_the_plain_loop(monkeypatch):
    graphs = list(random_graphs(25, 100, max_n=50))
    expected = [g.referrers for g in graphs]
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    for g, back in zip(graphs, expected):
        fresh = ClosureGraph(
            paths=g.paths, refs=g.refs, nar_size=g.nar_size, closure_size=g.closure_size, roots=g.roots
        )
        assert fresh.referrers == back


def test_reachable_paths_of_large_graphs_equal_breadth_first_search(monkeypatch):
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    rng = random.Random(26)
    for g in random_graphs(26, 100, max_n=50):
        roots = sorted(rng.sample(range(len(g.paths)), rng.randint(1, min(3, len(g.paths)))))
        fresh = ClosureGraph(
            paths=g.paths, refs=g.refs, nar_size=g.nar_size, closure_size=g.closure_size, roots=tuple(roots)
        )
        expected = set().union(*(bfs(g.refs, r) for r in roots))
        assert fresh.reachable == tuple(sorted(expected))
        assert fresh.unreachable == tuple(i for i in range(len(g.paths)) if i not in expected)


def test_references_resolved_in_the_given_order_equal_the_plain_loop(monkeypatch):
    rng = random.Random(27)
    for g in random_graphs(27, 60, max_n=60):
        records = g.to_records()
        rng.shuffle(records)
        for rec in records[: len(records) // 3]:  # some references as base names, as newer nix path-info writes them
            rec["references"] = [r.rsplit("/", 1)[1] if rng.random() < 0.5 else r for r in rec["references"]]
        small = ClosureGraph.from_records(records, store_dir="/nix/store")
        with monkeypatch.context() as m:
            m.setattr(graph_module, "_VECTORISE_FROM", 0)
            large = ClosureGraph.from_records(records, store_dir="/nix/store")
        assert large.refs == small.refs == g.refs and large.roots == small.roots
        assert large.paths == small.paths and large.nar_size == small.nar_size
        assert large.closure_size == small.closure_size and large.nar_hash == small.nar_hash


def test_a_reference_to_an_absent_path_is_named_on_large_graphs(monkeypatch):
    from layerlab.errors import GraphError

    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    records = [{"path": f"/nix/store/{i:04d}-p", "references": [f"/nix/store/{(i + 1) % 50:04d}-p"]} for i in range(50)]
    records[30]["references"].append("/nix/store/zzzz-gone")
    records[10]["references"].append("/nix/store/yyyy-gone")
    random.Random(3).shuffle(records)
    with pytest.raises(GraphError, match="0010-p references /nix/store/yyyy-gone, which is not in the graph"):
        ClosureGraph.from_records(records, source="g.json")
    for rec in records:
        rec["references"] = [r for r in rec["references"] if not r.endswith("-gone")]
        rec["narSize"] = {"/nix/store/0040-p": -1, "/nix/store/0020-p": "7"}.get(rec["path"], 5)
    with pytest.raises(GraphError, match="narSize of /nix/store/0020-p is '7'"):
        ClosureGraph.from_records(records, source="g.json")


def test_cycles_by_peeling_equal_tarjan():
    for g in random_graphs(22, 300, max_n=60):
        assert graph_module._cycles_by_peeling(g.refs) == tuple(sorted(c for c in _tarjan(g.refs) if len(c) > 1))


def test_cycles_by_peeling_when_a_cycle_reaches_everything():
    # a chain 0 -> 1 -> ... -> 199 whose top two nodes form a cycle, so the first pass
    # (from the unreferenced nodes down) peels nothing; a second cycle sits at the bottom
    n = 200
    refs = [[i + 1] if i + 1 < n else [] for i in range(n)]
    refs[1].append(0)
    refs[n - 1].append(n - 3)
    for k in range(2, n - 3, 7):
        refs[k].append(k + 5)  # shortcuts, no cycle
    expected = tuple(sorted(c for c in _tarjan(refs) if len(c) > 1))
    assert expected == ((0, 1), (n - 3, n - 2, n - 1))
    assert graph_module._cycles_by_peeling(refs) == expected
    assert graph_module._cycles_by_peeling([[1], [0]] + [[] for _ in range(5)]) == ((0, 1),)
    assert graph_module._cycles_by_peeling([[1], [2], []]) == () and graph_module._cycles_by_peeling([]) == ()


def test_derived_roots_of_large_graphs_equal_the_condensation_sources(monkeypatch):
    graphs = list(random_graphs(24, 300, max_n=60))
    expected = [graph_module.condensation(len(g.paths), g.refs).sources for g in graphs]
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    assert [_derived_roots(len(g.paths), g.refs) for g in graphs] == expected


def test_closure_sizes_by_reach_sums_equal_breadth_first_search(monkeypatch):
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    monkeypatch.setattr(graph_module, "_COUNT_WORDS", 1)
    for g in random_graphs(23, 150, max_n=90):
        fresh = ClosureGraph(paths=g.paths, refs=g.refs, nar_size=g.nar_size, closure_size=None, roots=g.roots)
        assert fresh._computed_closure_sizes() == expected_closure_sizes(g)


def test_keystone_is_unchanged_on_a_large_graph(monkeypatch):
    """keystone on a graph past the threshold (per-target searches) equals its
    result with the ancestor counts taken from the bit sets."""
    from layerlab.popularity import compute_popularity
    from layerlab.strategies import Context, get_strategy

    rng = random.Random(5)
    n = 4200
    recs = [
        {
            "path": f"/nix/store/{i:05d}-p{i}",
            "narSize": rng.choice((1, 10, 1000, 10**6)),
            "references": [
                f"/nix/store/{j:05d}-p{j}" for j in rng.sample(range(i + 1, n), min(n - i - 1, rng.randint(0, 4)))
            ]
            + ([f"/nix/store/{i - 1:05d}-p{i - 1}"] if i % 97 == 51 else [])  # a few cycles
            + ([f"/nix/store/{i + 1:05d}-p{i + 1}"] if i % 97 == 50 else []),
        }
        for i in range(n)
    ]
    g = ClosureGraph.from_records(recs)
    assert len(g.paths) >= graph_module._VECTORISE_FROM and g.cycles
    ctx = Context(compute_popularity(g))
    fast = get_strategy("keystone").group(g, ctx, 30)
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 10**9)
    slow = get_strategy("keystone").group(ClosureGraph.from_records(recs), ctx, 30)
    assert [(layer.paths, layer.rating) for layer in fast] == [(layer.paths, layer.rating) for layer in slow]


def expected_closure_sizes(g: ClosureGraph) -> tuple[int, ...]:
    return tuple(sum(g.nar_size[j] for j in bfs(g.refs, i)) for i in range(len(g.paths)))


def sized_copy(g: ClosureGraph, sizes) -> ClosureGraph:
    return ClosureGraph(paths=g.paths, refs=g.refs, nar_size=tuple(sizes), closure_size=None, roots=g.roots)


def test_computed_closure_sizes_with_numpy_in_blocks(monkeypatch):
    import numpy  # noqa: F401  (the numpy branch is taken once numpy is loaded)

    graphs = list(random_graphs(13, 150, max_n=40))
    for g in graphs:
        assert g.closure_size == expected_closure_sizes(g)  # computed in from_records
    # Several column blocks and row chunks, and sizes too large for int64 sums.
    monkeypatch.setattr(graph_module, "_SIZE_BLOCK", 8)
    monkeypatch.setattr(graph_module, "_SIZE_ROWS", 5)
    rng = random.Random(3)
    for g in graphs[:60]:
        assert g._computed_closure_sizes() == expected_closure_sizes(g)
        huge = sized_copy(g, [rng.choice([0, 2**62, 3**40, 7]) for _ in g.paths])
        assert huge._computed_closure_sizes() == expected_closure_sizes(huge)


def test_computed_closure_sizes_without_numpy(monkeypatch):
    monkeypatch.delitem(sys.modules, "numpy")  # small graphs then weigh bit strings in pure Python
    monkeypatch.setattr(graph_module, "_SIZE_BLOCK", 16)
    for g in random_graphs(14, 100, max_n=40):
        assert g._computed_closure_sizes() == expected_closure_sizes(g)
    assert "numpy" not in sys.modules


def test_computed_closure_sizes_by_hand():
    # a(1) -> b(10) <-> c(100) -> d(1000); e(10000) alone.
    g = ClosureGraph.from_records(
        [
            {"path": "/s/a", "narSize": 1, "references": ["/s/b"]},
            {"path": "/s/b", "narSize": 10, "references": ["/s/c"]},
            {"path": "/s/c", "narSize": 100, "references": ["/s/b", "/s/d"]},
            {"path": "/s/d", "narSize": 1000},
            {"path": "/s/e", "narSize": 10000},
        ]
    )
    assert g.closure_size == (1111, 1110, 1110, 1000, 10000)


# ------------------------------------------------------------- auto-layer
#: The ways auto-layer runs: small graphs in C (the compiled helper), small graphs in Python
#: (closure bit sets), large graphs (each candidate's closure searched when needed).
WAYS = ["compiled", "bit-sets", "closures-on-demand"]


def require_compiled() -> None:
    if auto_layer_module._autolayer is None:
        if tools_required():
            pytest.fail("layerlab.strategies._autolayer was not built (a C compiler is needed)")
        pytest.skip("layerlab.strategies._autolayer was not built")


def use_way(monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    if way == "compiled":
        require_compiled()
    else:
        monkeypatch.setattr(auto_layer_module, "_autolayer", None)
    if way == "closures-on-demand":
        monkeypatch.setattr(auto_layer_module, "_SMALL", 0)


@pytest.mark.parametrize("way", WAYS)
def test_auto_layer_equals_transcription_on_random_cyclic_graphs(monkeypatch, way):
    use_way(monkeypatch, way)
    bench = load_bench()
    for g in random_graphs(15, 120, max_n=25):
        for limit in (1, 2, 3, 4, 6, 10, 30):
            ours = [list(layer.paths) for layer in AutoLayer().group(g, budget=limit)]
            assert ours == bench.straightforward_auto_layer(g.to_records(), limit)


@pytest.mark.parametrize("way", WAYS)
def test_auto_layer_with_many_primaries_equals_transcription(monkeypatch, way):
    # More than 64 primaries, ties in narSize, cycles.
    use_way(monkeypatch, way)
    bench = load_bench()
    rng = random.Random(16)
    for n, density in ((90, 0.03), (150, 0.015)):
        g = random_graph(rng, n, density, sizes=(1, 2, 3, 4))
        for limit in (70, 120, n):
            ours = [list(layer.paths) for layer in AutoLayer().group(g, budget=limit)]
            assert ours == bench.straightforward_auto_layer(g.to_records(), limit)


@pytest.mark.parametrize("way", WAYS)
def test_auto_layer_groups_agree_with_split(monkeypatch, way):
    use_way(monkeypatch, way)
    for g in list(random_graphs(17, 60)) + [load_graph(DEBIAN / "bash-coreutils.graph.json")]:
        for limit in (1, 3, 10):
            split = auto_layer_split(g, limit)
            groups = auto_layer_groups(g, limit)
            assert {label: sum(1 << i for i in members) for _, members, label, _ in groups} == split
            for size, members, _, own in groups:
                assert own == sum(g.nar_size[i] for i in members)
                reach = set().union(*(bfs(g.refs, i) for i in members))
                assert size == sum(g.nar_size[j] for j in reach)
            assert [(s, m[0]) for s, m, _, _ in groups] == sorted((s, m[0]) for s, m, _, _ in groups)


def nixpkgs_labels(g: ClosureGraph, limit: int) -> dict[int, int]:
    """nixpkgs' labels when it stops, as ``{label: members}`` bit sets of path indices:
    its update rule applied step by step (a label per path, searched closures)."""
    n = len(g.paths)
    down = [bfs(g.refs, i) for i in range(n)]
    up = [{j for j in range(n) if i in down[j]} for i in range(n)]
    order = sorted(range(n - 1, -1, -1), key=lambda i: g.nar_size[i], reverse=True)
    label: list[frozenset[int]] = [frozenset()] * n
    for p in order:
        trial = list(label)
        trial[p] = frozenset({p})
        deps, users = down[p] - {p}, up[p] - {p}
        for d in deps:
            trial[d] -= users
            if not trial[d] & deps:
                trial[d] |= {p}
        if len(set(trial)) > limit:
            break
        label = trial
    out: dict[int, int] = {}
    for i, lab in enumerate(label):
        key = sum(1 << q for q in lab)
        out[key] = out.get(key, 0) | 1 << i
    return out


@st.composite
def cyclic_graphs(draw) -> ClosureGraph:
    n = draw(st.integers(1, 14))
    edges = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    sizes = draw(st.lists(st.sampled_from([0, 1, 2, 3, 8, 100]), min_size=n, max_size=n))
    return ClosureGraph.from_records(
        [
            {
                "path": f"/nix/store/{i:04d}-p{i}",
                "narSize": sizes[i],
                "references": sorted({f"/nix/store/{j:04d}-p{j}" for a, j in edges if a == i and j != i}),
            }
            for i in range(n)
        ]
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cyclic_graphs(), st.integers(1, 16), st.sampled_from(WAYS))
def test_auto_layer_labels_and_layers_equal_nixpkgs_on_any_graph(monkeypatch, g, limit, way):
    # Labels counted as distinct reach sets must be nixpkgs' labels, cycles and ties included.
    with monkeypatch.context() as patch:
        use_way(patch, way)
        assert auto_layer_split(g, limit) == nixpkgs_labels(g, limit)
        ours = [list(layer.paths) for layer in AutoLayer().group(g, budget=limit)]
        assert ours == BENCH.straightforward_auto_layer(g.to_records(), limit)
        assert {label: sum(1 << i for i in members) for _, members, label, _ in auto_layer_groups(g, limit)} == (
            nixpkgs_labels(g, limit)
        )


@settings(max_examples=150, deadline=None)
@given(cyclic_graphs(), st.integers(0, 16))
def test_compiled_auto_layer_equals_the_python_way_on_any_graph(g, limit):
    # Every field of every layer (sizes, members, reach sets, roots), self-references included.
    require_compiled()
    refs = tuple((i, *r) if i % 3 == 0 else r for i, r in enumerate(g.refs))  # self-references change no closure
    found = auto_layer_module._autolayer.layers(refs, g.nar_size, limit)
    assert found is not None
    layers, primaries, k = found
    python_layers, order, python_k = python_auto_layer(g, limit)
    assert (layers, primaries, k) == (python_layers, order[:python_k], python_k)


def python_auto_layer(g: ClosureGraph, limit: int):
    compiled = auto_layer_module._autolayer
    auto_layer_module._autolayer = None
    try:
        return auto_layer_module._layers(g, limit)
    finally:
        auto_layer_module._autolayer = compiled


@pytest.mark.parametrize("limit", [10, 30, 94, 200, 1000])
@pytest.mark.parametrize("way", WAYS)
def test_auto_layer_on_kde_full_equals_transcription(monkeypatch, limit, way):
    # Real data: cycles, more than 64 candidates at the larger limits, closure sizes by bit planes.
    use_way(monkeypatch, way)
    g = load_graph(DEBIAN / "kde-full.graph.json")
    ours = [list(layer.paths) for layer in AutoLayer().group(g, budget=limit)]
    assert ours == BENCH.straightforward_auto_layer(g.to_records(), limit)


@pytest.mark.parametrize("limit", [0, 1, 10, 30, 94, 200, 1000, 5000])
def test_compiled_auto_layer_equals_the_python_way_on_kde_full(limit):
    require_compiled()
    g = load_graph(DEBIAN / "kde-full.graph.json")
    layers, primaries, k = auto_layer_module._autolayer.layers(g.refs, g.nar_size, limit)
    python_layers, order, python_k = python_auto_layer(load_graph(DEBIAN / "kde-full.graph.json"), limit)
    assert (layers, primaries, k) == (python_layers, order[:python_k], python_k)
    assert AutoLayer().group(g, budget=max(limit, 1)) == AutoLayer().group(
        load_graph(DEBIAN / "kde-full.graph.json"), budget=max(limit, 1)
    )


def test_compiled_auto_layer_leaves_input_it_does_not_take_to_python():
    require_compiled()
    layers = auto_layer_module._autolayer.layers
    big = 2**63
    assert layers(((1,), ()), (2, 1), 3) is not None
    for refs, nar in [
        (((2,), ()), (2, 1)),  # a reference out of range
        (((-1,), ()), (2, 1)),
        (((big,), ()), (2, 1)),
        ((("1",), ()), (2, 1)),
        (([1], ()), (2, 1)),  # not a tuple
        (((1,), ()), (2, -1)),  # a negative size
        (((1,), ()), (2, big)),  # beyond 63 bits
        (((1,), ()), (big - 1, 1)),  # a sum beyond 63 bits
        (((1,), ()), (2, 1.0)),
        (((1,), ()), (2,)),  # columns of different lengths
        (tuple(() for _ in range(20000)), (1,) * 20000),  # too many paths for the bit sets
    ]:
        assert layers(refs, nar, 3) is None, (refs[:2], nar[:2])
    assert layers((), (), 3) == ([], [], 0)
    with pytest.raises(TypeError):
        layers([(1,), ()], (2, 1), 3)
    with pytest.raises(TypeError):
        layers(((1,), ()), (2, 1), "3")


@pytest.mark.parametrize("name", ["kde-full", "git-curl-python3"])
def test_auto_layer_roots_and_reasons(name):
    g = load_graph(DEBIAN / f"{name}.graph.json")
    layers = AutoLayer().group(g, budget=94)
    split = auto_layer_split(g, 94)
    by_first = {(members & -members).bit_length() - 1: label for label, members in split.items()}
    for layer in layers:
        label = by_first[g.index[layer.paths[0]]]
        assert layer.reason == ("primary" if label else "rest")
        single = label and not label & (label - 1)
        assert layer.root == (g.paths[label.bit_length() - 1] if single else None)


def test_auto_layer_helpers_on_an_empty_graph():
    g = ClosureGraph.from_records([])
    assert auto_layer_groups(g, 3) == []
    assert auto_layer_split(g, 3) == {0: 0}
    assert AutoLayer().group(g, budget=3) == []


def test_auto_layer_on_one_graph_from_many_threads_equals_one_at_a_time():
    # Threads share the graph's closure search (a sweep with a thread executor does);
    # a tiny switch interval makes them interleave inside searches.
    from concurrent.futures import ThreadPoolExecutor

    budgets = [3, 10, 30, 94, 5, 60, 20, 94]
    expected = {b: AutoLayer().group(load_graph(DEBIAN / "kde-full.graph.json"), budget=b) for b in set(budgets)}
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(4):
            shared = load_graph(DEBIAN / "kde-full.graph.json")
            with ThreadPoolExecutor(len(budgets)) as pool:
                results = list(pool.map(lambda b, g=shared: AutoLayer().group(g, budget=b), budgets))
            assert results == [expected[b] for b in budgets]
    finally:
        sys.setswitchinterval(interval)
