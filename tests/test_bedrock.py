"""bedrock: every path once, within budget, deterministic, dependency-first, and its figures on real images."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.graph import ClosureGraph
from layerlab.imageset import default_imageset
from layerlab.metrics.scorecard import scorecard
from layerlab.popularity import Popularity, load_popularity
from layerlab.sources.files import load_graph
from layerlab.strategies import Context, check_layers, get_strategy, layers_to_json
from layerlab.strategies.bedrock import Bedrock, closure_order, merge_runs

ROOT = Path(__file__).resolve().parent.parent
DEBIAN = ROOT / "data" / "debian"
EDGE = Path(__file__).resolve().parent / "data" / "edge"
POP = load_popularity(DEBIAN / "popularity.json")


def assert_dependency_first(graph: ClosureGraph, layers) -> None:
    """No path sits below a layer holding something it references (within the given layers)."""
    where = {p: k for k, layer in enumerate(layers) for p in layer.paths}
    for i, p in enumerate(graph.paths):
        if p not in where:
            continue
        for j in graph.refs[i]:
            q = graph.paths[j]
            if q in where:
                assert where[q] <= where[p], f"{p} (layer {where[p]}) references {q} (layer {where[q]})"


def random_graph(seed: int, n: int) -> ClosureGraph:
    """A random graph with back edges (cycles), tied sizes and names shared by several paths."""
    rnd = random.Random(seed)
    recs = []
    for i in range(n):
        refs = {rnd.randrange(i + 1, n) for _ in range(rnd.randrange(4)) if i + 1 < n}
        if rnd.random() < 0.1 and i > 0:
            refs.add(rnd.randrange(i))  # a back edge: a cycle
        name = f"pkg{rnd.randrange(n // 2 + 1)}-1.0"
        recs.append(
            {"path": f"/nix/store/{i:032d}-{name}", "narSize": rnd.choice([1, 5, 5, 100, 10**6]), "_refs": sorted(refs)}
        )
    for rec in recs:
        rec["references"] = [recs[j]["path"] for j in rec.pop("_refs")]
    return ClosureGraph.from_records(recs)


def test_closure_order_is_topological_and_follows_keys():
    # 0 -> 1 -> 2, 3 -> 2; keys: 3 first, then 0
    order = closure_order([[1], [2], [], [2]], [2, 5, 9, 1])
    assert order == [2, 3, 1, 0]
    assert closure_order([], []) == []


def test_merge_runs_matches_a_slow_reference():
    def reference(sizes, weights, runs):
        # one run per item; merge the adjacent pair (a below b) of least weight(b) * size(a), lowest first
        groups = [[i] for i in range(len(sizes))]
        while len(groups) > max(runs, 1):
            costs = [
                (sum(weights[i] for i in groups[k + 1]) * sum(sizes[i] for i in groups[k]), k)
                for k in range(len(groups) - 1)
            ]
            _, k = min(costs)
            groups[k : k + 2] = [groups[k] + groups[k + 1]]
        return [g[0] for g in groups] + [len(sizes)]

    rnd = random.Random(5)
    for _ in range(400):
        n = rnd.randrange(0, 30)
        sizes = [rnd.choice([0, 1, 1, 2, 3, 50, 10**6]) for _ in range(n)]
        weights = [rnd.choice([1, 1, 2, 5]) for _ in range(n)]
        runs = rnd.randrange(1, 35)
        cuts = merge_runs(sizes, weights, runs)
        assert cuts == reference(sizes, weights, runs)
        assert cuts[0] == 0 and cuts[-1] == n
        assert len(cuts) - 1 == min(runs, n)  # no slot wasted on an empty run
        assert all(a < b for a, b in zip(cuts, cuts[1:]))
    assert merge_runs([50, 1, 1, 1], [1, 1, 1, 1], 2) == [0, 1, 4]  # the large item below keeps a run alone
    assert merge_runs([1, 1, 1, 50], [1, 1, 1, 9], 2) == [0, 3, 4]  # a heavy item on top does not re-ship others
    assert merge_runs([], [], 3) == [0]


@pytest.mark.parametrize("seed", [2, 9])
def test_merge_runs_rounds_on_long_sequences(seed, monkeypatch):
    import layerlab.strategies.bedrock as bedrock_module

    rnd = random.Random(seed)
    n = 3000
    sizes = [rnd.choice([1, 2, 3, 40, 10**4]) for _ in range(n)]
    weights = [rnd.choice([1, 1, 2, 7]) for _ in range(n)]
    sizes[1234] = 10**12  # one huge item: it ends its run whichever way the runs are merged
    exact = merge_runs(sizes, weights, 50)
    monkeypatch.setattr(bedrock_module, "_VECTORISE_FROM", 64)  # rounds down to 200 runs, then the heap
    rounds = merge_runs(sizes, weights, 50)
    for cuts in (exact, rounds):
        assert cuts[0] == 0 and cuts[-1] == n and len(cuts) == 51
        assert all(a < b for a, b in zip(cuts, cuts[1:]))
        assert 1235 in cuts  # nothing above the huge item joins it: each path renamed there would re-ship it

    def cost(cuts):  # what renames re-ship beyond each run's own items, as merge_runs counts it
        return sum(sum(weights[a:b]) * sum(sizes[a:b]) for a, b in zip(cuts, cuts[1:]))

    assert cost(rounds) <= 1.5 * cost(exact)
    assert merge_runs(sizes[:40], weights[:40], 50) == list(range(41))  # as many runs as items: no rounds


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_partition_budget_order(seed):
    g = random_graph(seed, 40 + seed * 7)
    pop = Popularity({f"pkg{k}-1.0": (k * 37) % 50 for k in range(60)})
    for params in ({}, {"attach_popularity": 0, "tier_bytes": 0, "rest_paths_per_layer": 3}):
        for budget in (1, 2, 3, 7, 25, 10_000):
            layers = Bedrock(**params).group(g, Context(pop), budget)
            check_layers(g, layers, budget)
            for reason in ("unit", "small"):  # each tier is dependency-first
                assert_dependency_first(g, [layer for layer in layers if layer.reason == reason])
            dedicated = [layer for layer in layers if layer.reason != "rest"]
            if len(dedicated) == len(layers):  # every unit got a layer: the whole list is dependency-first
                assert_dependency_first(g, layers)
            if budget == 10_000:
                assert len(dedicated) == len(layers)


@pytest.mark.parametrize("name", ["img-ffmpeg", "img-rustc", "img-curl", "img-make"])
def test_debian_images_partition_within_budget_dependency_first(name):
    g = load_graph(DEBIAN / "imageset" / f"{name}.graph.json")
    least = Bedrock().min_layer_bytes
    for budget in (1, 2, 10, 30, 94, 500):
        layers = get_strategy("bedrock").group(g, Context(POP), budget)
        check_layers(g, layers, budget)
        reasons = [layer.reason for layer in layers]
        for reason in ("unit", "small"):
            assert_dependency_first(g, [layer for layer in layers if layer.reason == reason])
        # first tier, second tier, then the rest on top
        assert reasons == sorted(reasons, key=["unit", "small", "rest"].index)
        runs = reasons.count("rest")
        if runs:  # over budget: no dedicated layer below min_layer_bytes
            assert all(layer.size >= least for layer in layers if layer.reason != "rest")
        if runs > max(1, budget // 3):  # more runs only when too few units are large enough to fill the slots
            assert len(layers) == budget
        if len(reasons) < budget:
            assert "small" not in reasons
    # libc6 <-> libgcc-s1 is one unit
    (cycle,) = [
        layer
        for layer in get_strategy("bedrock").group(g, Context(POP), 500)
        if any("-libc6-2" in p for p in layer.paths)
    ]
    assert any("-libgcc-s1-" in p for p in cycle.paths)


def test_min_layer_bytes_turns_spare_slots_into_runs():
    g = load_graph(DEBIAN / "imageset" / "img-ffmpeg.graph.json")
    for budget in (2, 10, 30):
        # no unit is large enough: the whole budget is runs, cut from the dependency-first order
        layers = Bedrock(min_layer_bytes=10**12).group(g, Context(POP), budget)
        check_layers(g, layers, budget)
        assert [layer.reason for layer in layers] == ["rest"] * budget
        assert_dependency_first(g, layers)
        # without the floor, at most budget / 3 runs and the tiny units keep slots of their own
        layers = Bedrock(min_layer_bytes=0).group(g, Context(POP), budget)
        assert len(layers) == budget
        assert 1 <= sum(layer.reason == "rest" for layer in layers) <= max(1, budget // 3)
    sizes = [layer.size for layer in Bedrock(min_layer_bytes=0).group(g, Context(POP), 94) if layer.reason != "rest"]
    assert min(sizes) < 1_000_000  # so the default floor changes which units keep a layer at budget 94
    floored = Bedrock(min_layer_bytes=1_000_000).group(g, Context(POP), 94)
    assert all(layer.size >= 1_000_000 for layer in floored if layer.reason != "rest")
    assert sum(layer.reason == "rest" for layer in floored) > 94 // 3


def test_without_popularity_or_sizes():
    g = load_graph(DEBIAN / "imageset" / "img-git.graph.json")
    layers = get_strategy("bedrock").group(g, Context(), 10)
    check_layers(g, layers, 10)
    bare = ClosureGraph.from_records(
        [{"path": p, "references": [g.paths[j] for j in g.refs[i]]} for i, p in enumerate(g.paths)]
    )
    assert bare.nar_size is None
    check_layers(bare, get_strategy("bedrock").group(bare, Context(POP), 5), 5)


def test_edge_graphs():
    for name in ("empty.json", "unreach.json", "tie.json", "pop0.json"):
        g = load_graph(EDGE / name)
        for budget in (1, 2, 94):
            layers = get_strategy("bedrock").group(g, Context(POP), budget)
            check_layers(g, layers, budget)
            assert layers == get_strategy("bedrock").group(load_graph(EDGE / name), Context(POP), budget)
    assert get_strategy("bedrock").group(load_graph(EDGE / "empty.json"), Context(POP), 3) == []


def test_same_output_for_any_hash_seed():
    script = (
        "from layerlab.sources.files import load_graph\n"
        "from layerlab.popularity import load_popularity\n"
        "from layerlab.strategies import Context, get_strategy, layers_to_json\n"
        f"ctx = Context(load_popularity({str(DEBIAN / 'popularity.json')!r}))\n"
        "for name in ('img-ffmpeg', 'img-tomcat10'):\n"
        f"    g = load_graph({str(DEBIAN / 'imageset')!r} + '/' + name + '.graph.json')\n"
        "    for b in (3, 30, 94):\n"
        "        print(layers_to_json(get_strategy('bedrock').group(g, ctx, b)).hex())\n"
    )
    outputs = set()
    for seed in ("0", "1", "777"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, check=True
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1
    g = load_graph(DEBIAN / "imageset" / "img-ffmpeg.graph.json")
    assert layers_to_json(get_strategy("bedrock").group(g, Context(POP), 30)).hex() in outputs.pop()


def test_figures_on_real_images_where_every_unit_fits():
    """Without attachment, without the foundation's small units and when every image fits the budget, each
    layer is one path or one dependency cycle, so the figures follow: a client pulls exactly what per-path
    (one layer per path) pulls under any digest, and an update re-ships exactly the renamed bytes under any
    digest.  On these images the dependency-first order also costs no more than per-path's size order under
    ChainID."""
    s = default_imageset().subset(["img-curl", "img-git", "img-make", "img-nginx", "img-python3"])
    ours = get_strategy("bedrock", attach_popularity=0, min_layer_bytes=0)
    frame = scorecard(s, [ours, get_strategy("per-path")], [94], executor="serial", progress=False)
    fig = {(r.strategy.split()[0], r.figure): r for r in frame.itertuples()}
    assert fig["bedrock", "pull-any"].bytes == fig["per-path", "pull-any"].bytes
    assert fig["bedrock", "update-any"].bytes == fig["bedrock", "update-any"].bound_bytes
    assert fig["bedrock", "update-chain"].bytes <= fig["per-path", "update-chain"].bytes
    assert fig["bedrock", "pull-chain"].bytes <= fig["per-path", "pull-chain"].bytes


@pytest.mark.parametrize("seed", [3, 17])
def test_children_order_same_with_and_without_numpy(seed, monkeypatch):
    import layerlab.strategies.bedrock as bedrock_module

    rng = random.Random(seed)
    n = 300
    refs = [[rng.randrange(n) for _ in range(rng.randrange(6))] for _ in range(n)]  # duplicates included
    rank = list(range(n))
    rng.shuffle(rank)
    monkeypatch.setattr(bedrock_module, "_VECTORISE_FROM", 10**9)
    plain = bedrock_module._children_by_rank(refs, rank)
    monkeypatch.setattr(bedrock_module, "_VECTORISE_FROM", 0)
    assert bedrock_module._children_by_rank(refs, rank) == plain
    assert any(len(set(r)) < len(r) for r in refs) and any(plain)


def test_graph_with_a_repeated_record_loads_once_and_conflicts_are_errors():
    from layerlab.errors import GraphError

    a = {"path": "/nix/store/a-x", "narSize": 1, "references": ["/nix/store/b-y"]}
    b = {"path": "/nix/store/b-y", "narSize": 2}
    g = ClosureGraph.from_records([a, b, dict(a)])
    assert g.paths == ("/nix/store/a-x", "/nix/store/b-y") and g.refs == ((1,), ())
    with pytest.raises(GraphError, match="listed twice"):
        ClosureGraph.from_records([a, b, dict(a, narSize=5)])


def test_unit_references_are_the_distinct_references_between_units():
    import layerlab.strategies.bedrock as bedrock_module

    rng = random.Random(5)
    n, m = 400, 60
    refs = [sorted({rng.randrange(n) for _ in range(rng.randrange(5))} - {i}) for i in range(n)]
    unit_of = [rng.randrange(m) for _ in range(n)]
    got = bedrock_module._unit_references(refs, unit_of, m)
    pairs = {(unit_of[i], unit_of[j]) for i in range(n) for j in refs[i] if unit_of[i] != unit_of[j]}
    assert got == [sorted(v for u2, v in pairs if u2 == u) for u in range(m)]
    assert all(u not in got[u] for u in range(m)) and sum(map(len, got)) > m


def test_foundation_is_the_same_bottom_layer_at_every_budget():
    """The small units the order puts below the first large one join it, in every image and at every budget,
    so an image over budget starts with the same layer as one that fits (ChainID needs equal prefixes)."""
    bottoms = set()
    for name in ("img-ffmpeg", "img-r-base-core", "img-curl", "img-make", "img-golang-go"):
        g = load_graph(DEBIAN / "imageset" / f"{name}.graph.json")
        for budget in (10, 30, 94, 500):
            layers = get_strategy("bedrock").group(g, Context(POP), budget)
            bottom = layers[0]
            assert bottom.size >= Bedrock().min_layer_bytes and bottom.reason == "unit"
            assert any("-gcc-12-base-" in p for p in bottom.paths) and any("-libc6-2" in p for p in bottom.paths)
            bottoms.add(bottom.paths)
        # without the floor the smallest foundation unit is a layer of its own when the image fits
        free = Bedrock(min_layer_bytes=0).group(g, Context(POP), 500)
        assert len(free[0].paths) == 1 and "-gcc-12-base-" in free[0].paths[0]
    assert len(bottoms) == 1


def test_foundation_on_a_small_graph():
    # t (tiny) <- b (big) <- a; t is below the first unit of at least 10 bytes, so it joins b
    g = ClosureGraph.from_records(
        [
            {"path": "/s/a-app-1", "narSize": 40, "references": ["/s/b-big-1"]},
            {"path": "/s/b-big-1", "narSize": 30, "references": ["/s/t-tiny-1"]},
            {"path": "/s/t-tiny-1", "narSize": 2, "references": []},
        ]
    )
    layers = Bedrock(min_layer_bytes=10).group(g, Context(), 5)
    assert [layer.paths for layer in layers] == [("/s/b-big-1", "/s/t-tiny-1"), ("/s/a-app-1",)]
    assert [layer.paths for layer in Bedrock(min_layer_bytes=0).group(g, Context(), 5)][0] == ("/s/t-tiny-1",)
    # nothing large enough: nothing joins
    assert len(Bedrock(min_layer_bytes=10**6).group(g, Context(), 5)) == 3


def test_image_over_budget_shares_the_bottom_layers_under_chainid():
    """img-ffmpeg is over budget at 94 and img-curl fits: pulled after curl, ffmpeg reuses curl's bottom layers under
    ChainID (the foundation) and pulls less than its whole size."""
    from layerlab.metrics import layer_imageset
    from layerlab.metrics.pull import simulate_pull

    s = default_imageset().subset(["img-curl", "img-ffmpeg"])
    lay = layer_imageset(get_strategy("bedrock"), s, 94)
    assert len(lay.layers[1]) == 94 and len(lay.layers[0]) < 94  # ffmpeg merges, curl does not
    table = lay.table
    (_, curl_bytes), (_, ffmpeg_bytes) = simulate_pull(table.image_layers, table.layer_size, [0, 1], rule="chain")
    assert curl_bytes == sum(s[0].graph.nar_size)  # the first image is pulled whole
    assert ffmpeg_bytes < sum(s[1].graph.nar_size)
    assert lay.layers[0][0].paths == lay.layers[1][0].paths


@pytest.mark.parametrize("seed", [4, 11])
def test_unit_order_same_from_edge_arrays_as_from_reference_tuples(seed, monkeypatch):
    import layerlab.strategies.bedrock as bedrock_module

    rng = random.Random(seed)
    n, m = 500, 80
    # an acyclic graph (references point to larger indices), units of consecutive paths keep it acyclic
    records = [
        {
            "path": f"/nix/store/{i:04d}-p",
            "references": [f"/nix/store/{j:04d}-p" for j in range(i + 1, n) if rng.random() < 3 / n],
        }
        for i in range(n)
    ]
    g = ClosureGraph.from_records(records)
    unit_of = [i * m // n for i in range(n)]
    keys = [(rng.randrange(5), u) for u in range(m)]  # ties broken by the unit number
    by_key = sorted(range(m), key=keys.__getitem__)
    monkeypatch.setattr(bedrock_module, "_VECTORISE_FROM", 10**9)
    plain = bedrock_module._unit_order(g, unit_of, by_key)
    monkeypatch.setattr(bedrock_module, "_VECTORISE_FROM", 0)
    assert bedrock_module._unit_order(g, unit_of, by_key) == plain
    assert sorted(plain) == list(range(m)) and plain != sorted(range(m), key=keys.__getitem__)


@pytest.mark.parametrize("seed", [5, 23])
def test_same_layers_with_and_without_numpy(seed, monkeypatch):
    import layerlab.graph as graph_module
    import layerlab.strategies.base as base_module
    import layerlab.strategies.bedrock as bedrock_module
    import layerlab.strategies.keystone as keystone_module

    pop = Popularity({f"pkg{k}-1.0": k % 4 for k in range(300)})
    configs = [
        (Bedrock(), Context(pop)),
        (Bedrock(min_layer_bytes=0, attach_max_size=50), Context(pop)),
        (Bedrock(gamma=1.7), Context(None)),
    ]

    heap_only = bedrock_module._merge_heap  # the rounds of merge_runs on long sequences are another matter

    def layers(threshold):
        for module in (graph_module, bedrock_module, keystone_module, base_module):
            monkeypatch.setattr(module, "_VECTORISE_FROM", threshold)
        monkeypatch.setattr(base_module, "_LAYER_VECTORISE_FROM", threshold)
        monkeypatch.setattr(bedrock_module, "merge_runs", lambda s, w, runs: heap_only(list(s), list(w), max(runs, 1)))
        g = random_graph(seed, 500)  # built afresh: its cycles are found on this side too
        sizeless = ClosureGraph.from_records(
            [{k: v for k, v in r.items() if k not in ("narSize", "closureSize")} for r in g.to_records()]
        )
        return [
            [(layer.paths, layer.size, layer.rating, layer.reason, layer.root) for layer in strategy.group(h, ctx, b)]
            for h in (g, sizeless)
            for strategy, ctx in configs
            for b in (3, 12, 500)
        ]

    plain = layers(10**9)
    assert layers(0) == plain
    assert any(len(layer[0]) > 1 for layering in plain for layer in layering)  # units of several paths
    assert any(layer[1] is None for layering in plain for layer in layering)  # the graph without sizes


@pytest.mark.parametrize("seed", [2, 9])
def test_key_order_same_with_and_without_numpy(seed, monkeypatch):
    import layerlab.strategies.bedrock as bedrock_module

    rng = random.Random(seed)
    m = 2000
    size = [rng.choice([0, 1, 4096, 4096, 10**6, 2**60]) for _ in range(m)]
    pop = [rng.choice([0, 1, 2, 7, 10**5]) for _ in range(m)]
    heads = sorted(rng.sample(range(10 * m), m))
    names = {h: f"pkg{rng.randrange(m // 3)}" for h in heads}
    for gamma in (2.5, 0.0, 0.3):
        monkeypatch.setattr(bedrock_module, "_VECTORISE_FROM", 10**9)
        plain = bedrock_module._key_order(size, pop, heads, names, gamma)
        monkeypatch.setattr(bedrock_module, "_VECTORISE_FROM", 0)
        assert bedrock_module._key_order(size, pop, heads, names, gamma) == plain
    keys = [(-s * p**0.3, (names[h], h)) for s, p, h in zip(size, pop, heads)]  # as the order's definition puts it
    assert plain == sorted(range(m), key=keys.__getitem__)
    assert len(set(keys)) == m and len({k[0] for k in keys}) < m // 10  # many ties, broken by name, then head
