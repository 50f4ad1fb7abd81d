"""Nixery's grouping: the seed's results, its parameters, and the rules that replace its crashes."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import orjson
import pytest

from layerlab.errors import ConfigError, GraphError, PopularityError
from layerlab.graph import ClosureGraph
from layerlab.popularity import Popularity, load_popularity
from layerlab.sources.files import load_graph
from layerlab.strategies import Context, get_strategy, strategy_from_json
from layerlab.strategies.nixery import Nixery, UnreachablePathsWarning, dominator_split

from .conftest import DATA, ROOT, TESTDATA

DEBIAN = DATA / "debian"
SEED = TESTDATA / "seed-layers"
EDGE = TESTDATA / "edge"


@pytest.fixture(scope="module")
def debian_context() -> Context:
    return Context(load_popularity(DEBIAN / "popularity.json"))


def seed_cases():
    for f in sorted(SEED.glob("*.layers.json")):
        image, budget = f.name[: -len(".layers.json")].rsplit("-b", 1)
        graph = DEBIAN / f"{image}.graph.json"
        if not graph.exists():
            graph = DEBIAN / "imageset" / f"{image}.graph.json"
        yield pytest.param(graph, int(budget), f, id=f"{image}-b{budget}")


@pytest.mark.parametrize("graph_file, budget, expected_file", list(seed_cases()))
def test_same_layer_sets_as_the_seed(graph_file, budget, expected_file, debian_context):
    expected = {frozenset(layer["contents"]) for layer in orjson.loads(expected_file.read_bytes())}
    graph = load_graph(graph_file)
    layers = Nixery().group(graph, debian_context, budget)
    assert {frozenset(layer.paths) for layer in layers} == expected


def test_all_seed_outputs_are_covered():
    assert len(list(seed_cases())) == 99


# The example from the seed's own documentation: G is big, E popular.
S = "/nix/store/"


def doc_graph() -> ClosureGraph:
    p = {k: f"{S}{k.lower() * 4}-{k}" for k in "ABCDEFG"}
    size = {"A": 1, "B": 1, "C": 1, "D": 2, "E": 10, "F": 1, "G": 200_000_000}
    refs = {"A": "E", "B": "E", "C": "ED", "D": "FG", "E": "", "F": "", "G": ""}
    records = [{"path": p[k], "closureSize": size[k], "references": [p[r] for r in refs[k]]} for k in "ABCDEFG"]
    return ClosureGraph.from_records(records, [p[k] for k in "ABCD"])


def names(layers):
    return [sorted(path.rsplit("-", 1)[1] for path in layer.paths) for layer in layers]


@pytest.mark.parametrize(
    "budget, expected",
    [
        (1, [["A", "B", "C", "D", "E", "F", "G"]]),
        (2, [["A", "B", "C", "D", "E", "F"], ["G"]]),
        (3, [["A", "B", "C", "D", "F"], ["E"], ["G"]]),
        (4, [["A", "B", "C"], ["D", "F"], ["E"], ["G"]]),
        (10, [["A"], ["B"], ["C"], ["D", "F"], ["E"], ["G"]]),
    ],
)
def test_documented_example(budget, expected):
    ctx = Context(Popularity({"E": 1000}))
    layers = Nixery().group(doc_graph(), ctx, budget)
    assert names(layers) == expected


def test_reasons_roots_and_ratings():
    ctx = Context(Popularity({"E": 1000}))
    layers = {
        tuple(n): layer
        for n, layer in zip(names(Nixery().group(doc_graph(), ctx, 10)), Nixery().group(doc_graph(), ctx, 10))
    }
    assert layers[("G",)].reason == "big" and layers[("G",)].rating == 200_000_000
    assert layers[("E",)].reason == "popular" and layers[("E",)].rating == 1000 * 10
    assert layers[("D", "F")].reason == "dominator" and layers[("D", "F")].root.endswith("-D")
    assert layers[("D", "F")].rating == 3
    merged = Nixery().group(doc_graph(), ctx, 3)[0]
    assert merged.reason == "merged" and merged.root is None and merged.rating == 1 + 1 + 1 + 3


def test_layer_sizes_are_nar_sums_when_known():
    g = ClosureGraph.from_records(
        [
            {"path": S + "aaaa-a", "narSize": 5, "references": [S + "bbbb-b"]},
            {"path": S + "bbbb-b", "narSize": 7, "references": []},
        ]
    )
    (layer,) = Nixery().group(g, Context(), 5)
    assert layer.size == 12 and layer.rating == 12 + 7  # rating uses closureSize: 12 + 7


def ratings_graph(values):
    recs = [{"path": f"{S}{chr(97 + i) * 4}-p{i}", "closureSize": v, "references": []} for i, v in enumerate(values)]
    return ClosureGraph.from_records(recs, [r["path"] for r in recs])


def test_merge_modes_differ_as_documented():
    g = ratings_graph([3, 3, 4, 4])
    seed = Nixery(merge_mode="seed").group(g, Context(), 2)
    resort = Nixery(merge_mode="resort").group(g, Context(), 2)
    assert [sorted(lay.paths) for lay in seed] == [[g.paths[0], g.paths[1], g.paths[2]], [g.paths[3]]]
    assert [lay.rating for lay in seed] == [10, 4]
    assert sorted(tuple(lay.paths) for lay in resort) == [(g.paths[0], g.paths[1]), (g.paths[2], g.paths[3])]
    assert [lay.rating for lay in resort] == [6, 8]


def test_ties_broken_by_path():
    g = load_graph(EDGE / "tie.json")
    layers = Nixery().group(g, Context(), 2)
    assert [lay.paths for lay in layers] == [
        ("/nix/store/aaaa-A", "/nix/store/bbbb-B", "/nix/store/cccc-C"),
        ("/nix/store/dddd-D",),
    ]
    # Input order does not matter.
    doc = orjson.loads((EDGE / "tie.json").read_bytes())
    doc["graph"].reverse()
    doc["exportReferencesGraph"]["graph"].reverse()
    g2 = ClosureGraph.from_records(doc["graph"], doc["exportReferencesGraph"]["graph"])
    assert Nixery().group(g2, Context(), 2) == layers


def test_unreachable_paths_kept_with_a_warning():
    g = load_graph(EDGE / "unreach.json")
    with pytest.warns(UnreachablePathsWarning, match="1 paths are reachable from no root"):
        layers = Nixery().group(g, Context(), 94)
    assert [(lay.paths, lay.reason) for lay in layers] == [
        (("/nix/store/bbbb-B",), "unreachable"),
        (("/nix/store/aaaa-A",), "dominator"),
    ]
    with pytest.warns(UnreachablePathsWarning):
        (single,) = Nixery().group(g, Context(), 1)
    assert single.paths == ("/nix/store/aaaa-A", "/nix/store/bbbb-B")


def test_unreachable_but_big_path_gets_its_own_layer_as_in_the_seed():
    g = ClosureGraph.from_records(
        [{"path": S + "aaaa-a", "closureSize": 1}, {"path": S + "bbbb-big", "closureSize": 10**9}], [S + "aaaa-a"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers = Nixery().group(g, Context(), 5)
    assert {lay.reason for lay in layers} == {"dominator", "big"}


def test_empty_graph_gives_no_layers():
    assert Nixery().group(load_graph(EDGE / "empty.json"), Context(), 94) == []


@pytest.mark.parametrize("budget", [0, -3, 2.5, "3", True])
def test_bad_budget(budget):
    with pytest.raises(ConfigError, match="budget"):
        Nixery().group(doc_graph(), Context(), budget)


def test_popularity_edge_files():
    assert len(load_popularity(EDGE / "pop0.json")) == 0
    with pytest.raises(PopularityError, match=r"popularity of 'A' is 1.5, expected an integer") as info:
        load_popularity(EDGE / "popfloat.json")
    assert str(EDGE / "popfloat.json") in str(info.value)
    with pytest.raises(PopularityError, match=r"popularity of 'A' is negative \(-1\)"):
        load_popularity(EDGE / "popneg.json")


def test_empty_popularity_means_popularity_one():
    g = load_graph(EDGE / "tie.json")
    ctx = Context(load_popularity(EDGE / "pop0.json"))
    assert [lay.rating for lay in Nixery().group(g, ctx, 94)] == [10, 10, 10, 10]


def test_size_measure_nar_and_threshold():
    g = ClosureGraph.from_records(
        [
            {"path": S + "aaaa-app", "narSize": 30, "references": [S + "bbbb-lib"]},
            {"path": S + "bbbb-lib", "narSize": 40, "references": []},
        ]
    )
    # closureSize: app 70, lib 40.  Threshold 50: only app is big and lib stays under it.
    assert [lay.reason for lay in Nixery(size_threshold=50).group(g, Context(), 5)] == ["big"]
    # Threshold 35 by closureSize: both big; by narSize only lib (40) is.
    by_closure = Nixery(size_threshold=35).group(g, Context(), 5)
    assert sorted((lay.paths, lay.reason) for lay in by_closure) == [
        ((S + "aaaa-app",), "big"),
        ((S + "bbbb-lib",), "big"),
    ]
    by_nar = Nixery(size_threshold=35, size_measure="nar").group(g, Context(), 5)
    assert sorted((lay.paths, lay.reason, lay.rating) for lay in by_nar) == [
        ((S + "aaaa-app",), "dominator", 30),
        ((S + "bbbb-lib",), "big", 40),
    ]


def test_size_measure_nar_needs_nar_size():
    g = ClosureGraph.from_records([{"path": S + "aaaa-a", "closureSize": 3}])
    with pytest.raises(GraphError, match="nixery with size_measure=nar needs narSize"):
        Nixery(size_measure="nar").group(g, Context(), 3)


def test_no_sizes_at_all_is_a_clear_error():
    g = ClosureGraph.from_records([{"path": S + "aaaa-a", "references": []}], source="t.txt")
    with pytest.raises(GraphError, match="t.txt: nixery needs closureSize or narSize"):
        Nixery().group(g, Context(), 3)


def test_preset_nixery_2022_forces_cacert():
    g = ClosureGraph.from_records(
        [
            {"path": S + "aaaa-app-1", "closureSize": 10, "references": [S + "bbbb-nss-cacert-3.49"]},
            {"path": S + "bbbb-nss-cacert-3.49", "closureSize": 5, "references": []},
        ]
    )
    assert len(get_strategy("nixery").group(g, Context(Popularity({})), 5)) == 1
    layers = get_strategy("nixery-2022").group(g, Context(Popularity({})), 5)
    cacert = [lay for lay in layers if "cacert" in lay.paths[0]][0]
    assert cacert.reason == "popular" and cacert.rating == 500_000 * 5


def test_popularity_by_name_and_percentile():
    g = ClosureGraph.from_records(
        [
            {"path": S + "aaaa-app-1", "closureSize": 10, "references": [S + "bbbb-libc-2.37"]},
            {"path": S + "bbbb-libc-2.37", "closureSize": 5, "references": []},
        ]
    )
    pop = Popularity({"libc-2.36": 5000, **{f"x{i}-1": i for i in range(100)}})
    assert len(Nixery().group(g, Context(pop), 5)) == 1  # version bump: libc looks unpopular
    assert len(Nixery(popularity_by_name=True).group(g, Context(pop), 5)) == 2
    # The 99th percentile of the table is 99: libc (5000 by name) is popular, so is anything >= 99.
    s = Nixery(popularity_by_name=True, popularity_threshold=10**8, popularity_percentile=99)
    assert s.threshold(pop) == 99
    assert len(s.group(g, Context(pop), 5)) == 2


def test_dominator_split_exposes_the_tree():
    g = doc_graph()
    split = dominator_split(g, [4, 6])  # E and G flagged
    heads = {g.paths[h].rsplit("-", 1)[1] for h in split.heads}
    assert heads == {"A", "B", "C", "D", "E", "G"}
    f = g.index[S + "ffff-F"]
    assert split.owner[f] == g.index[S + "dddd-D"]


def test_strategy_json_round_trip_and_bad_params():
    s = get_strategy("nixery", size_threshold="50M", merge_mode="resort")
    assert s.size_threshold == 50_000_000
    assert strategy_from_json(orjson.loads(orjson.dumps(s.to_json()))) == s
    with pytest.raises(ConfigError, match="merge_mode must be one of seed, resort"):
        get_strategy("nixery", merge_mode="fast")
    with pytest.raises(ConfigError, match="size_threshold=-1 is below the minimum"):
        get_strategy("nixery", size_threshold=-1)
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        get_strategy("nope")


def run_cli(args, seed):
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    return subprocess.run(
        [sys.executable, "-m", "layerlab.cli", *args], capture_output=True, env=env, cwd=ROOT, check=True
    ).stdout


@pytest.mark.parametrize("graph", ["kde-full.graph.json", "imageset/img-ffmpeg.graph.json"])
def test_byte_identical_output_across_hash_seeds(graph, tmp_path):
    args = [
        "group",
        str(DEBIAN / graph),
        "--popularity",
        str(DEBIAN / "popularity.json"),
        "--budget",
        "30",
        "-s",
        "nixery",
    ]
    outputs = {run_cli(args, seed) for seed in (0, 1, 12345)}
    assert len(outputs) == 1
    layers = orjson.loads(outputs.pop())
    assert len(layers) <= 30 and all(set(layer) == {"contents", "mergeRating"} for layer in layers)


def test_universe_graph_groups_into_budget(debian_context):
    g = load_graph(DEBIAN / "universe.graph.json.xz")
    layers = Nixery().group(g, debian_context, 94)
    assert len(layers) == 94
    assert sum(len(lay.paths) for lay in layers) == 63671
    assert Path(DEBIAN / "universe.graph.json.xz").exists()


def _random_graph(seed: int, n: int) -> ClosureGraph:
    import random

    rng = random.Random(seed)
    recs = []
    for i in range(n):
        refs = {f"/nix/store/{j:04d}-p{j}" for j in rng.sample(range(n), rng.randrange(4))}
        if i and rng.random() < 0.05:
            refs.add(f"/nix/store/{i - 1:04d}-p{i - 1}")  # a back edge now and then: cycles
        size = rng.randrange(1, 10**6)
        recs.append({"path": f"/nix/store/{i:04d}-p{i}", "narSize": size, "references": sorted(refs)})
    roots = [f"/nix/store/{j:04d}-p{j}" for j in rng.sample(range(n), 3)]  # some paths unreachable
    return ClosureGraph.from_records(recs, roots)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plain_python_and_numpy_paths_agree(seed, monkeypatch):
    import layerlab.strategies.nixery as nixery_module

    graph = _random_graph(seed, 250)
    pops = Popularity({f"p{i}": i * 7 % 1500 for i in range(250)})
    context = Context(popularity=pops)
    starts = sorted(set(graph.roots) | {5, 17})
    results = []
    for threshold in (10**9, 0):
        monkeypatch.setattr(nixery_module, "_VECTORISE_FROM", threshold)
        idom = nixery_module.immediate_dominators(len(graph), graph.refs, starts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnreachablePathsWarning)
            layers = Nixery().group(graph, context, 12)
        results.append((idom, layers))
    assert results[0] == results[1]
    assert -1 in results[0][0] and len(results[0][1]) == 12


def test_plain_python_dominators_equal_rustworkx_on_small_cyclic_graphs(monkeypatch):
    # Dense random graphs: many back edges (so later passes run), starts hung from the
    # artificial root (so its early exit is taken), unreachable nodes.
    import random

    import layerlab.strategies.nixery as nixery_module

    rng = random.Random(12)
    for _ in range(300):
        n = rng.randint(1, 40)
        density = rng.choice([0.03, 0.08, 0.2, 0.4])
        refs = [tuple(j for j in range(n) if j != i and rng.random() < density) for i in range(n)]
        starts = sorted(rng.sample(range(n), rng.randint(1, min(n, 5))))
        plain = nixery_module._dominators_small(n, refs, starts)
        monkeypatch.setattr(nixery_module, "_VECTORISE_FROM", 0)
        compiled = nixery_module.immediate_dominators(n, refs, starts)
        monkeypatch.undo()
        assert plain == compiled, (refs, starts)
