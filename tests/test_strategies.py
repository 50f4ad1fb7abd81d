"""The peers' strategies, the baselines and keystone, on graphs worked out by hand.

Expected values come from the peers' own documentation and tests (nixpkgs'
popularity-contest comments and tests, flatten-references-graph's tests and
fixtures, nix2container's popularity test) or are derived in the comments.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import layerlab.strategies.auto_layer as auto_layer_module
from layerlab.errors import ConfigError, StrategyError
from layerlab.graph import ClosureGraph, GraphMemo
from layerlab.popularity import Popularity, load_popularity
from layerlab.sources.files import load_graph
from layerlab.strategies import (
    DEFAULT_STRATEGY,
    FAMILIES,
    Context,
    available,
    check_layers,
    get_strategy,
    strategy_from_json,
)
from layerlab.strategies.auto_layer import AutoLayer
from layerlab.strategies.keystone import Keystone, keystone_units
from layerlab.strategies.nix2container import nix2container_order
from layerlab.strategies.pipeline import Pipeline, flatten_references_graph, parse_pipeline, run_pipeline
from layerlab.strategies.popularity_contest import contest_order, contest_scores

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = Path(__file__).resolve().parent / "data"
DEBIAN = ROOT / "data" / "debian"


def graph_of(
    edges: dict[str, str], sizes: dict[str, int] | None = None, roots: list[str] | None = None
) -> ClosureGraph:
    """A graph from ``{"A": "BC"}`` (A references B and C); one-letter paths."""
    names = sorted(set(edges) | {r for rs in edges.values() for r in rs})
    recs = []
    for n in names:
        rec = {"path": n, "references": list(edges.get(n, ""))}
        if sizes is not None:
            rec["narSize"] = sizes[n]
        recs.append(rec)
    return ClosureGraph.from_records(recs, roots)


def contents(layers) -> list[list[str]]:
    return [list(layer.paths) for layer in layers]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_auto_layer", ROOT / "benchmarks" / "bench_auto_layer.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_auto_layer"] = mod
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------- registry
def test_registry_lists_every_family_and_round_trips():
    names = set(available())
    assert {
        "nixery",
        "nixery-2022",
        "popularity-contest",
        "auto-layer",
        "pipeline",
        "nix2container",
        "per-path",
        "single-layer",
        "keystone",
        "bedrock",
    } <= names
    assert DEFAULT_STRATEGY == "bedrock"
    for name in names:
        s = get_strategy(name)
        assert strategy_from_json(json.loads(json.dumps(s.to_json()))) == s
    p = get_strategy("pipeline", pipeline=[["popularity_contest"], ["limit_layers", 3]])
    assert p.pipeline == '[["popularity_contest"],["limit_layers",3]]'
    assert strategy_from_json(p.to_json()) == p


# ------------------------------------------------------------ baselines
def test_per_path_and_single_layer():
    g = graph_of({"A": "B", "B": "C"}, {"A": 5, "B": 9, "C": 1})
    assert contents(get_strategy("per-path").group(g, budget=3)) == [["B"], ["A"], ["C"]]
    # Budget 2: the largest path alone, the others shared.
    assert contents(get_strategy("per-path").group(g, budget=2)) == [["B"], ["A", "C"]]
    assert contents(get_strategy("single-layer").group(g, budget=5)) == [["A", "B", "C"]]


# --------------------------------------------------- popularity contest
# nixpkgs' documented example: A-B-C-D-F, B-E, C-E, E-F, A-G.
DOC_EXAMPLE = {"A": "BG", "B": "CE", "C": "DE", "D": "F", "E": "F"}


def test_contest_scores_match_nixpkgs_documentation():
    g = graph_of(DOC_EXAMPLE)
    assert dict(zip(g.paths, contest_scores(len(g.paths), g.refs))) == {
        "A": 1,
        "B": 2,
        "C": 3,
        "D": 4,
        "E": 5,
        "F": 9,
        "G": 2,
    }
    # Appearances in the unfolded tree: F appears 3 times (via D, via B-E, via C-E).
    assert dict(zip(g.paths, contest_scores(len(g.paths), g.refs, "appearances")))["F"] == 3


def test_contest_order_matches_nixpkgs_test():
    # popularity_contest_test.py: Root1-A, A-B, A-D, D-E, B-D, B-F, Root2-B, Root3-C, X alone.
    g = graph_of(
        {"Root1": ["A"], "A": ["B", "D"], "D": ["E"], "B": ["D", "F"], "Root2": ["B"], "Root3": ["C"], "X": []}
    )
    order = [g.paths[i] for i, _ in contest_order(g.paths, g.refs)]
    assert order == ["E", "D", "F", "B", "A", "C", "Root1", "Root2", "Root3", "X"]
    # foo-bar-baz-tux example: foo 1, bar 2, baz 4, tux 6.
    g2 = graph_of({"foo": ["bar", "baz"], "bar": ["baz"], "baz": ["tux"]})
    assert dict(zip(g2.paths, contest_scores(len(g2.paths), g2.refs))) == {"foo": 1, "bar": 2, "baz": 4, "tux": 6}


def test_popularity_contest_layers_and_ties_by_name():
    g = graph_of(DOC_EXAMPLE)
    layers = get_strategy("popularity-contest").group(g, budget=4)
    assert contents(layers) == [["F"], ["E"], ["D"], ["A", "B", "C", "G"]]
    assert [layer.reason for layer in layers] == ["contest", "contest", "contest", "rest"]
    # Ties (B and G score 2) by name: B before G.
    assert contents(get_strategy("popularity-contest").group(g, budget=10))[4:6] == [["B"], ["G"]]


def test_popularity_contest_cycle_is_one_node():
    # R -> X <-> Y -> Z: {X, Y} is one node with walks 1, score 1 + 1 = 2; Z: 1 + (1 + 1) = 3.
    g = graph_of({"R": "X", "X": "Y", "Y": "XZ"})
    scores = dict(zip(g.paths, contest_scores(len(g.paths), g.refs)))
    assert scores == {"R": 1, "X": 2, "Y": 2, "Z": 3}
    assert contents(get_strategy("popularity-contest").group(g, budget=3)) == [["Z"], ["X"], ["R", "Y"]]


# --------------------------------------------------------- nix2container
def test_nix2container_matches_its_test():
    g = graph_of(DOC_EXAMPLE)
    order = [(g.paths[i], s) for i, s in nix2container_order(len(g.paths), g.refs)]
    assert order == [("F", 11), ("E", 6), ("D", 4), ("C", 3), ("G", 2), ("B", 2), ("A", 1)]
    assert contents(get_strategy("nix2container").group(g, budget=3)) == [["F"], ["E"], ["A", "B", "C", "D", "G"]]


def test_nix2container_cycle():
    # R -> X <-> Y: {X, Y} scores 1 + score(R) = 2.
    g = graph_of({"R": "X", "X": "Y", "Y": "X"})
    assert sorted((g.paths[i], s) for i, s in nix2container_order(len(g.paths), g.refs)) == [
        ("R", 1),
        ("X", 2),
        ("Y", 2),
    ]


# ------------------------------------------------------------ auto-layer
def test_auto_layer_by_hand():
    # a(50) -> c(30), b(40) -> c.  Primaries a, b, c in size order.
    g = graph_of({"a": "c", "b": "c"}, {"a": 50, "b": 40, "c": 30})
    # Limit 3: c is used by both -> its own layer {a,b}; order by closure size c 30, b 70, a 80.
    assert contents(AutoLayer().group(g, budget=3)) == [["c"], ["b"], ["a"]]
    # Limit 2: adding b would make 3 labels, so stop after a: {a, c} and {b}.
    assert contents(AutoLayer().group(g, budget=2)) == [["b"], ["a", "c"]]
    assert contents(AutoLayer().group(g, budget=1)) == [["a", "b", "c"]]


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 10, 40])
def test_auto_layer_equals_transcription(limit):
    bench = load_bench()
    graphs = [
        graph_of(DOC_EXAMPLE, {c: 10 + ord(c) % 7 for c in "ABCDEFG"}),
        graph_of({"R": "XA", "X": "Y", "Y": "XZ", "A": "Z"}, {"R": 1, "X": 5, "Y": 5, "Z": 3, "A": 4}),  # cycle, ties
        load_graph(TESTDATA / "nix2container" / "closure-graph.json"),
        load_graph(TESTDATA / "nixpkgs" / "real-references-graph.json"),
        load_graph(DEBIAN / "bash-coreutils.graph.json"),
    ]
    for g in graphs:
        ours = contents(AutoLayer().group(g, budget=limit))
        assert ours == bench.straightforward_auto_layer(g.to_records(), limit)
        assert len(ours) <= limit


# -------------------------------------------------------------- pipeline
def test_pipeline_nixpkgs_main_fixtures():
    doc = json.loads((TESTDATA / "nixpkgs" / "flatten-references-graph-main-input.json").read_text())
    assert flatten_references_graph(doc["graph"], doc["pipeline"], doc.get("exclude_paths")) == [["B"], ["C"], ["A"]]
    doc = json.loads((TESTDATA / "nixpkgs" / "flatten-references-graph-main-input-no-paths.json").read_text())
    assert flatten_references_graph(doc["graph"], doc["pipeline"], doc.get("exclude_paths")) == []


FRG = [
    {"closureSize": 1, "narSize": 2, "path": "A", "references": ["A", "C"]},
    {"closureSize": 3, "narSize": 4, "path": "B", "references": ["C", "D"]},
    {"closureSize": 5, "narSize": 6, "path": "C", "references": ["C"]},
    {"closureSize": 7, "narSize": 8, "path": "D", "references": ["D"]},
]


def test_pipeline_flatten_references_graph_tests():
    assert flatten_references_graph(FRG, [["split_paths", ["B"]]]) == [["B", "D"], ["C"], ["A"]]
    pl = [["split_paths", ["B"]], ["over", "main", ["subcomponent_in", ["B"]]]]
    assert flatten_references_graph(FRG, pl) == [["B"], ["D"], ["C"], ["A"]]
    assert flatten_references_graph(FRG, [["split_paths", ["B"]]], ["A"]) == [["B", "C", "D"]]
    assert flatten_references_graph(FRG, [["split_paths", ["B"]]], ["D"]) == [["B"], ["C"], ["A"]]


def test_pipeline_pipe_tests():
    g = graph_of({"Root1": ["A"], "A": ["B", "C"], "B": ["D", "E", "G"], "E": ["F"], "Root2": ["B"], "Root3": ["C"]})
    pl = [
        ["split_paths", ["B"]],
        ["over", "main", ["pipe", [["subcomponent_in", ["B"]], ["over", "rest", ["popularity_contest"]]]]],
        ["flatten"],
        ["map", ["remove_paths", "Root3"]],
        ["limit_layers", 5],
    ]
    layers = [sorted(g.paths[i] for i in layer) for layer in run_pipeline(g, pl)]
    assert layers == [["B"], ["F"], ["D"], ["E"], ["A", "C", "G", "Root1", "Root2"]]
    g2 = ClosureGraph.from_records(
        [{"path": "Root1", "references": ["A"]}, {"path": "A", "references": ["B"]}, {"path": "B"}, {"path": "Root2"}]
    )
    names = lambda pl: [sorted(g2.paths[i] for i in layer) for layer in run_pipeline(g2, pl)]  # noqa: E731
    assert names([["popularity_contest"]]) == [["B"], ["A"], ["Root1"], ["Root2"]]
    assert names([["popularity_contest"], ["limit_layers", 3]]) == [["B"], ["A"], ["Root1", "Root2"]]
    assert names([["popularity_contest"], ["reverse"], ["limit_layers", 3]]) == [["Root2"], ["Root1"], ["A", "B"]]
    assert names([["split_every", 3]]) == [["A", "B", "Root1"], ["Root2"]]


def split(g: ClosureGraph, specs) -> dict:
    from layerlab.strategies.pipeline import PGraph, _Run

    start = PGraph(tuple(range(len(g.paths))), {i: tuple(g.refs[i]) for i in range(len(g.paths))})
    out = _Run(g.paths).op_split_paths(start, specs, where="test")
    return {
        k: (sorted(g.paths[v] for v in pg.vs), sorted((g.paths[a], g.paths[b]) for a in pg.vs for b in pg.succ[a]))
        for k, pg in out.items()
    }


def test_pipeline_split_paths_tests():
    # split_paths_test.py: Root1-A, A-B, A-D, D-E, B-D, B-F, Root2-B, Root3-C, X alone.
    g = graph_of(
        {"Root1": ["A"], "A": ["B", "D"], "D": ["E"], "B": ["D", "F"], "Root2": ["B"], "Root3": ["C"], "X": []}
    )
    assert split(g, []) == {
        "rest": (
            sorted(g.paths),
            sorted((a, b) for a in "Root1 A D B Root2 Root3".split() for b in [g.paths[j] for j in g.refs[g.index[a]]]),
        )
    }
    assert split(g, ["B"]) == {
        "main": (["B", "F"], [("B", "F")]),
        "common": (["D", "E"], [("D", "E")]),
        "rest": (["A", "C", "Root1", "Root2", "Root3", "X"], [("Root1", "A"), ("Root3", "C")]),
    }
    assert split(g, ["B", "Root3"]) == {
        "main": (["B", "C", "F", "Root3"], [("B", "F"), ("Root3", "C")]),
        "common": (["D", "E"], [("D", "E")]),
        "rest": (["A", "Root1", "Root2", "X"], [("Root1", "A")]),
    }
    assert split(g, ["D"]) == {
        "main": (["D", "E"], [("D", "E")]),
        "rest": (
            ["A", "B", "C", "F", "Root1", "Root2", "Root3", "X"],
            [("A", "B"), ("B", "F"), ("Root1", "A"), ("Root2", "B"), ("Root3", "C")],
        ),
    }
    # children_of B = D and F; with the edges into them cut nothing else reaches D, E or F.
    assert split(g, [{"children_of": "B"}])["main"] == (["D", "E", "F"], [("D", "E")])


def test_pipeline_strategy_budget_and_exclusions():
    g = ClosureGraph.from_records(FRG)
    # split_paths gives 3 layers; a budget of 2 merges the tail.
    assert contents(Pipeline(pipeline=[["split_paths", ["B"]]]).group(g, budget=2)) == [["B", "D"], ["A", "C"]]
    s = Pipeline(pipeline='[["split_paths", ["B"]]]', exclude_paths='["D"]')
    layers = s.group(g, budget=5)
    assert contents(layers) == [["B"], ["C"], ["A"], ["D"]] and layers[-1].reason == "excluded"
    assert contents(s.group(g, budget=2)) == [["A", "B", "C"], ["D"]]
    assert contents(s.group(g, budget=1)) == [["A", "B", "C", "D"]]
    # Missing keys in `over` leave the value alone; cycles do not lose paths.
    cyc = graph_of({"R": "X", "X": "Y", "Y": "X", "P": "Q", "Q": "P"}, dict.fromkeys("RXYPQ", 1))
    pl = [["split_paths", ["X"]], ["over", "common", ["popularity_contest"]]]
    assert sorted(p for layer in Pipeline(pipeline=pl).group(cyc, budget=9) for p in layer.paths) == [
        "P",
        "Q",
        "R",
        "X",
        "Y",
    ]


def test_pipeline_errors():
    with pytest.raises(ConfigError, match="unknown step 'sort'"):
        parse_pipeline('[["sort"]]')
    with pytest.raises(ConfigError, match="takes 1 argument"):
        parse_pipeline('[["split_every"]]')
    with pytest.raises(ConfigError, match="not valid JSON"):
        get_strategy("pipeline", pipeline="[[")
    with pytest.raises(StrategyError, match="expects a graph, got a list"):
        get_strategy("pipeline", pipeline='[["popularity_contest"], ["split_every", 2]]').group(
            graph_of(DOC_EXAMPLE), budget=5
        )


# --------------------------------------------------------------- keystone
def test_keystone_units_by_hand():
    # app -> data (popularity 1: only app uses it) and app -> lib (popularity 50).
    g = ClosureGraph.from_records(
        [
            {"path": "/s/a-app-1", "narSize": 50, "references": ["/s/b-lib-1", "/s/c-data-1"]},
            {"path": "/s/b-lib-1", "narSize": 30, "references": []},
            {"path": "/s/c-data-1", "narSize": 10, "references": []},
        ]
    )
    pops = Popularity({"lib-1": 50, "data-1": 1}).for_graph(g)
    assert keystone_units(g, pops, 1) == {0: [0, 2], 1: [1]}
    # attach_popularity 50: lib joins app too.
    assert keystone_units(g, pops, 50) == {0: [0, 1, 2]}


def test_keystone_layers_by_hand():
    g = ClosureGraph.from_records(
        [
            {"path": "/s/a-app-1", "narSize": 50, "references": ["/s/b-lib-1", "/s/c-data-1", "/s/d-tiny-1"]},
            {"path": "/s/b-lib-1", "narSize": 30, "references": ["/s/e-libc-1"]},
            {"path": "/s/c-data-1", "narSize": 10, "references": []},
            {"path": "/s/d-tiny-1", "narSize": 2, "references": ["/s/e-libc-1"]},
            {"path": "/s/e-libc-1", "narSize": 20, "references": []},
        ]
    )
    ctx = Context(Popularity({"lib-1": 40, "data-1": 1, "tiny-1": 5, "libc-1": 1000}))
    # Units: {app, data} 60 bytes (popularity 1), {lib} 30 (40), {libc} 20 (1000), {tiny} 2 (5).
    # alpha=0, beta=0: value = bytes; budget 3 -> app unit, lib, then the rest.
    s = Keystone(alpha=0.0, beta=0.0)
    assert contents(s.group(g, ctx, budget=3)) == [
        ["/s/a-app-1", "/s/c-data-1"],
        ["/s/b-lib-1"],
        ["/s/d-tiny-1", "/s/e-libc-1"],
    ]
    # alpha=1: values app 60, lib 1200, libc 20000, tiny 10 -> libc, lib alone.
    s = Keystone(alpha=1.0, beta=0.0)
    assert contents(s.group(g, ctx, budget=3))[:2] == [["/s/e-libc-1"], ["/s/b-lib-1"]]
    # beta=1 (alpha 0): users of each head: app 1, lib 2, libc 4, tiny 2 -> values 60, 60, 80, 4;
    # ties (app, lib at 60) by path.
    s = Keystone(alpha=0.0, beta=1.0)
    assert contents(s.group(g, ctx, budget=3)) == [
        ["/s/e-libc-1"],
        ["/s/a-app-1", "/s/c-data-1"],
        ["/s/b-lib-1", "/s/d-tiny-1"],
    ]
    # min_layer_size keeps small units out of their own layer, even when they are valuable.
    s = Keystone(alpha=1.0, beta=0.0, min_layer_size=25)
    assert contents(s.group(g, ctx, budget=3))[:2] == [["/s/b-lib-1"], ["/s/a-app-1", "/s/c-data-1"]]
    # Enough budget: every unit alone.
    assert len(Keystone().group(g, ctx, budget=10)) == 4


def test_keystone_without_popularity_attaches_nothing():
    # R -> A -> B, sizes 1, 5, 3: no table, so three units valued bytes * users (alpha: 1 ** 0.1 = 1):
    # R 1 * 1, A 5 * 2 = 10, B 3 * 3 = 9 -> A, B alone at budget 3; at budget 2 A alone, R + B shared.
    g = graph_of({"R": "A", "A": "B"}, {"R": 1, "A": 5, "B": 3})
    assert contents(Keystone().group(g, None, budget=2)) == [["A"], ["B", "R"]]
    assert contents(Keystone().group(g, None, budget=3)) == [["A"], ["B"], ["R"]]


def test_keystone_without_nar_size_counts_paths():
    # No sizes: every path weighs 1; users R 1, A 2, B 3 -> B then A alone at budget 3.
    g = graph_of({"R": "A", "A": "B"})
    assert g.nar_size is None
    layers = Keystone().group(g, None, budget=2)
    assert contents(layers) == [["B"], ["A", "R"]] and layers[0].size is None


def test_keystone_cycle_is_one_unit():
    # R -> X <-> Y -> Z: the cycle {X, Y} is one unit, never attached to R even at popularity 1;
    # Z (popularity 1, only Y references it) joins the cycle's unit.
    g = graph_of({"R": "X", "X": "Y", "Y": "XZ"}, {"R": 1, "X": 2, "Y": 3, "Z": 4})
    assert keystone_units(g, [1, 1, 1, 1], 1) == {0: [0], 1: [1, 2, 3]}
    assert keystone_units(g, [1, 1, 1, 2], 1) == {0: [0], 1: [1, 2], 3: [3]}
    layers = Keystone(alpha=0.0, beta=0.0).group(g, Context(Popularity({})), budget=2)
    assert contents(layers) == [["X", "Y", "Z"], ["R"]]


# -------------------------------------------------- every strategy, real data
ALL = [
    "nixery",
    "nixery-2022",
    "popularity-contest",
    "auto-layer",
    "pipeline",
    "nix2container",
    "per-path",
    "single-layer",
    "keystone",
    "bedrock",
]


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_partitions_cyclic_debian_graphs(name):
    ctx = Context(load_popularity(DEBIAN / "popularity.json"))
    g = load_graph(DEBIAN / "bash-coreutils.graph.json")
    assert g.cycles  # libc6 <-> libgcc-s1
    for budget in (1, 2, 3, 10, 94):
        a = get_strategy(name).group(g, ctx, budget)
        b = get_strategy(name).group(load_graph(DEBIAN / "bash-coreutils.graph.json"), ctx, budget)
        check_layers(g, a, budget)
        assert a == b


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("nixery", "nixery-2022")])
def test_cli_group_runs_every_strategy(name, tmp_path, capsys):
    from layerlab.cli import main

    settings = {
        "popularity-contest": ["--set", "score=appearances"],
        "pipeline": ["--set", 'pipeline=[["popularity_contest"],["limit_layers",3]]'],
        "keystone": ["--set", "alpha=0.5", "--set", "min_layer_size=1M"],
    }.get(name, [])
    out = tmp_path / "layers.json"
    rc = main(
        [
            "group",
            str(DEBIAN / "imageset" / "img-curl.graph.json"),
            "--strategy",
            name,
            "--budget",
            "5",
            "--popularity",
            str(DEBIAN / "popularity.json"),
            "-o",
            str(out),
            *settings,
        ]
    )
    assert rc == 0
    layers = json.loads(out.read_text())
    assert 1 <= len(layers) <= 5
    assert sum(len(layer["contents"]) for layer in layers) == 32
    main(["strategies"])
    assert name in capsys.readouterr().out


def test_keystone_meets_targets_on_the_debian_set():
    from layerlab.imageset import default_imageset
    from layerlab.metrics import layer_imageset
    from layerlab.metrics.pull import pull_cost

    s = default_imageset()
    for budget, target in ((94, 1.05), (30, 1.20), (10, 1.35)):
        ours = pull_cost(layer_imageset(get_strategy("keystone"), s, budget)).summary
        peer = pull_cost(layer_imageset(get_strategy("auto-layer"), s, budget)).summary
        assert ours["ratio"] <= target
        assert ours["pulled_bytes"] < peer["pulled_bytes"]


def test_families_are_the_registry():
    assert set(FAMILIES) == {
        "nixery",
        "popularity-contest",
        "auto-layer",
        "pipeline",
        "nix2container",
        "per-path",
        "single-layer",
        "keystone",
        "bedrock",
    }


def test_output_independent_of_hash_seed():
    import hashlib
    import os
    import subprocess

    script = (
        "import hashlib, sys\n"
        "from layerlab.sources.files import load_graph\n"
        "from layerlab.popularity import load_popularity\n"
        "from layerlab.strategies import Context, get_strategy, layers_to_json\n"
        f"g = load_graph({str(DEBIAN / 'imageset' / 'img-ffmpeg.graph.json')!r})\n"
        f"ctx = Context(load_popularity({str(DEBIAN / 'popularity.json')!r}))\n"
        "h = hashlib.sha256()\n"
        f"for name in {ALL!r}:\n"
        "    for b in (3, 30):\n"
        "        h.update(layers_to_json(get_strategy(name).group(g, ctx, b)))\n"
        "print(h.hexdigest())\n"
    )
    digests = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, check=True
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1 and len(hashlib.sha256().hexdigest()) == len(digests.pop())


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_auto_layer_memo_on_the_graph_never_changes_results(monkeypatch, compiled):
    """Layer facts memoised on a graph give the same layers as a fresh graph, whatever the order of budgets
    (the compiled helper keeps nothing on the graph)."""
    if compiled and auto_layer_module._autolayer is None:
        pytest.skip("layerlab.strategies._autolayer was not built")  # test_closures fails for it under CI
    if not compiled:
        monkeypatch.setattr(auto_layer_module, "_autolayer", None)
    reused = load_graph(DEBIAN / "kde-full.graph.json")
    for budget in (94, 10, 30, 10, 94, 3):
        fresh = load_graph(DEBIAN / "kde-full.graph.json")
        assert AutoLayer().group(reused, budget=budget) == AutoLayer().group(fresh, budget=budget)
    assert reused.memo.names() == (
        []
        if compiled
        else [
            "auto-layer candidate order",
            "auto-layer closure search",
            "auto-layer layer facts",
            "auto-layer reach sets",
        ]
    )


def test_auto_layer_results_hold_when_the_graph_memo_evicts(monkeypatch):
    """A memo holding fewer entries than the budgets asked for evicts between calls; the layers stay the same."""
    monkeypatch.setattr(auto_layer_module, "_autolayer", None)  # the Python way keeps facts on the graph
    tight = load_graph(DEBIAN / "kde-full.graph.json")
    object.__setattr__(tight, "memo", GraphMemo(maxsize=1))
    for budget in (94, 30, 94, 10, 30):
        fresh = load_graph(DEBIAN / "kde-full.graph.json")
        assert AutoLayer().group(tight, budget=budget) == AutoLayer().group(fresh, budget=budget)
    assert len(tight.memo.cache("auto-layer layer facts")) == 1
