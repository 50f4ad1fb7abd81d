"""Pull cost against hand-computed answers, both cache rules, starting caches, bounds."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerlab.errors import ConfigError, ImageError, StrategyError
from layerlab.graph import ClosureGraph
from layerlab.imageset import ImageSet, default_imageset
from layerlab.metrics import Layering, compare_pull, ideal_bytes, layer_imageset, pull_cost, simulate_pull, worst_bytes
from layerlab.strategies import get_strategy

from .metrics_fixtures import P, S, abc_set, graph


@pytest.fixture()
def abc() -> ImageSet:
    return abc_set()


def test_per_path_layers_reach_the_ideal(abc: ImageSet) -> None:
    lay = Layering.from_paths(abc, [[P("c"), P("b"), P("a")], [P("c"), P("b"), P("d")], [P("c"), P("e")]])
    for rule in ("any", "chain"):
        frame, sm = pull_cost(lay, rule)
        assert frame["pulled_bytes"].tolist() == [60, 40, 50]
        assert frame["pulled_layers"].tolist() == [3, 1, 1]
        assert sm["pulled_bytes"] == 150 == sm["ideal_bytes"]
        assert sm["worst_bytes"] == 230 == sm["total_bytes"]
        assert sm["ratio"] == 1.0
    assert frame["hit_ratio"].tolist() == [0.0, 50 / 90, 30 / 80]
    assert frame["cumulative_pulled_bytes"].tolist() == [60, 100, 150]
    assert frame["new_path_bytes"].tolist() == [60, 40, 50]


def test_chain_rule_repulls_same_layers_in_another_order(abc: ImageSet) -> None:
    lay = Layering.from_paths(abc, [[P("c"), P("b"), P("a")], [P("b"), P("c"), P("d")], [P("c"), P("e")]])
    assert pull_cost(lay, "any").summary["pulled_bytes"] == 150
    frame, sm = pull_cost(lay, "chain")
    # two: chain (b) is new, so b, c and d are all pulled: 90.
    assert frame["pulled_bytes"].tolist() == [60, 90, 50]
    assert frame["pulled_layers"].tolist() == [3, 3, 1]
    assert sm["pulled_bytes"] == 200 and sm["ratio"] == 200 / 150


def test_chain_rule_misses_above_a_miss(abc: ImageSet) -> None:
    # three = [c, e]; one = [c, e'...] impossible, so use: one [a, c, b]? a is not in two; build a miss in the middle.
    lay = Layering.from_paths(abc, [[P("c"), P("a"), P("b")], [P("c"), P("d"), P("b")], [P("c"), P("e")]])
    frame, _ = pull_cost(lay, "chain")
    # two: c reused, d new, then b is above a miss: pulled again although its digest is held.
    assert frame["pulled_bytes"].tolist() == [60, 60, 50]
    assert pull_cost(lay, "any").summary["pulled_bytes"] == 150


def test_merged_layers_cost_more(abc: ImageSet) -> None:
    lay = Layering.from_paths(abc, [[P("a", "b", "c")], [P("b", "c"), P("d")], [P("c"), P("e")]])
    frame, sm = pull_cost(lay)
    assert frame["pulled_bytes"].tolist() == [60, 90, 80]
    assert sm["pulled_bytes"] == 230 and sm["hit_ratio"] == 0.0
    assert sm["pulled_layers"] == 5


def test_starting_cache_holds_an_image(abc: ImageSet) -> None:
    lay = Layering.from_paths(abc, [[P("c"), P("b"), P("a")], [P("b"), P("c"), P("d")], [P("c"), P("e")]])
    frame, sm = pull_cost(lay, "any", held=["two"])
    assert frame["pulled_bytes"].tolist() == [10, 0, 50]
    assert sm["ideal_bytes"] == 60 and sm["held"] == ["two"]
    assert sm["worst_bytes"] == 60 + 0 + 80
    assert sm["total_bytes"] == 230
    # ChainID: held chains are (b), (b,c), (b,c,d); one starts with c: all of one is new.
    assert pull_cost(lay, "chain", held=["two"]).frame["pulled_bytes"].tolist() == [60, 0, 50]
    assert ideal_bytes(abc, held=[1]) == 60


def test_order_and_subset(abc: ImageSet) -> None:
    lay = Layering.from_paths(abc, [[P("c"), P("b"), P("a")], [P("c"), P("b"), P("d")], [P("c"), P("e")]])
    frame, sm = pull_cost(lay, order=["three", "one"])
    assert frame["image"].tolist() == ["three", "one"]
    assert frame["pulled_bytes"].tolist() == [80, 30]
    assert sm["ideal_bytes"] == 110 and sm["total_bytes"] == 140
    assert worst_bytes(abc, order=[2, 0]) == 140


def test_identical_closures_are_one_layer_in_the_worst_case() -> None:
    g = graph("x", {"a": "c", "c": ""}, "a")
    s = ImageSet.from_graphs({"x": g, "y": g})
    assert worst_bytes(s) == 40 and ideal_bytes(s) == 40


def test_unknown_rule(abc: ImageSet) -> None:
    lay = Layering.from_paths(abc, [[P("a", "b", "c")], [P("b", "c", "d")], [P("c", "e")]])
    with pytest.raises(ConfigError, match="unknown rule 'docker'"):
        pull_cost(lay, "docker")


def test_bad_layerings_rejected(abc: ImageSet) -> None:
    with pytest.raises(StrategyError, match="left .*ccc-c-1 out of every layer"):
        Layering.from_paths(abc, [[P("a", "b")], [P("b", "c", "d")], [P("c", "e")]])
    with pytest.raises(StrategyError, match="not in image one"):
        Layering.from_paths(abc, [[P("a", "b", "c", "d")], [P("b", "c", "d")], [P("c", "e")]])
    with pytest.raises(StrategyError, match="2 layer lists for 3 images"):
        Layering.from_paths(abc, [[P("a", "b", "c")], [P("b", "c", "d")]])


def test_digests_must_agree_with_content(abc: ImageSet) -> None:
    layers = [[P("c"), P("a", "b")], [P("c"), P("b", "d")], [P("c"), P("e")]]
    ok = Layering.from_paths(
        abc, layers, digests=[["sha256:c", "sha256:ab"], ["sha256:c", "sha256:bd"], ["sha256:c", "sha256:e"]]
    )
    assert pull_cost(ok).summary["pulled_bytes"] == 30 + 30 + 60 + 50
    two_digests = Layering.from_paths(abc, layers, digests=[["sha256:c", "x"], ["sha256:C", "y"], ["sha256:c", "z"]])
    with pytest.raises(
        ImageError, match="layer 0 of image two has digest sha256:C, but the same paths have digest sha256:c"
    ):
        pull_cost(two_digests)
    one_digest = Layering.from_paths(abc, layers, digests=[["c", "x"], ["c", "x"], ["c", "z"]])
    with pytest.raises(ImageError, match="digest x of layer 1 of image two names two different sets of paths"):
        pull_cost(one_digest)
    with pytest.raises(ImageError, match="one digest per layer"):
        Layering.from_paths(abc, layers, digests=[["c"], ["c", "x"], ["c", "z"]])


def test_simulate_pull_examples() -> None:
    assert simulate_pull([(0, 1), (1, 0)], [10, 5], [0, 1], rule="any") == [(2, 15), (0, 0)]
    assert simulate_pull([(0, 1), (1, 0)], [10, 5], [0, 1], rule="chain") == [(2, 15), (2, 15)]
    assert simulate_pull([(0, 1), (0, 1, 2)], [10, 5, 1], [1], held=[0], rule="chain") == [(1, 1)]


# ---------------------------------------------------------------- Debian set
def seed_layering(imageset: ImageSet, budget: int, seed_dir: Path) -> Layering:
    layers = []
    for name in imageset.names:
        doc = orjson.loads((seed_dir / f"{name}-b{budget}.layers.json").read_bytes())
        layers.append([sorted(entry["contents"]) for entry in doc])
    return Layering.from_paths(imageset, layers, label="nixery-2019-binary")


@pytest.mark.parametrize("budget, ratio", [(94, 1.77), (30, 1.77), (10, 1.81)])
def test_nixery_2019_figures_on_the_debian_set(budget: int, ratio: float, testdata_dir: Path) -> None:
    """The README figures, from the 2019 program's own layers and from ours: same bytes."""
    s = default_imageset()
    seed = pull_cost(seed_layering(s, budget, testdata_dir / "seed-layers")).summary
    ours = pull_cost(layer_imageset(get_strategy("nixery"), s, budget)).summary
    assert seed["pulled_bytes"] == ours["pulled_bytes"]
    assert seed["ideal_bytes"] == ours["ideal_bytes"] == s.union_bytes
    assert round(seed["ratio"], 2) == ratio


def test_compare_pull_rows() -> None:
    s = default_imageset().subset(["img-curl", "img-git", "img-perl"])
    lays = [layer_imageset(get_strategy("nixery"), s, b) for b in (94, 10)]
    df = compare_pull(lays)
    assert list(df[["budget", "rule"]].itertuples(index=False, name=None)) == [
        (94, "any"),
        (94, "chain"),
        (10, "any"),
        (10, "chain"),
    ]
    for row in df.itertuples():
        assert pull_cost(lays[0 if row.budget == 94 else 1], row.rule).summary["pulled_bytes"] == row.pulled_bytes
        assert row.ideal_bytes <= row.pulled_bytes <= row.total_bytes


# ------------------------------------------------------------------ property
@st.composite
def layered_sets(draw):
    n_paths = draw(st.integers(1, 8))
    sizes = draw(st.lists(st.integers(0, 100), min_size=n_paths, max_size=n_paths))
    names = [f"{S}{chr(97 + i) * 3}-p{i}-1" for i in range(n_paths)]
    graphs, layers = [], []
    for k in range(draw(st.integers(1, 4))):
        members = sorted(draw(st.sets(st.integers(0, n_paths - 1), min_size=1)))
        recs = [{"path": names[i], "narSize": sizes[i], "references": []} for i in members]
        graphs.append(ClosureGraph.from_records(recs, name=f"img{k}"))
        labels = draw(st.lists(st.integers(0, 2), min_size=len(members), max_size=len(members)))
        groups: dict[int, list[str]] = {}
        for i, lab in zip(members, labels):
            groups.setdefault(lab, []).append(names[i])
        order = draw(st.permutations(sorted(groups)))
        layers.append([groups[g] for g in order])
    held = draw(st.lists(st.integers(0, len(graphs) - 1), max_size=2))
    return ImageSet.from_graphs(graphs), layers, held


@settings(max_examples=150, deadline=None)
@given(layered_sets(), st.sampled_from(["any", "chain"]))
def test_bounds_hold_for_any_layering(case, rule: str) -> None:
    s, layers, held = case
    lay = Layering.from_paths(s, layers)
    frame, sm = pull_cost(lay, rule, held=held)
    assert sm["ideal_bytes"] <= sm["pulled_bytes"] <= sm["total_bytes"]
    assert (frame["pulled_bytes"] <= frame["image_bytes"]).all()
    # any digest never pulls more than ChainID
    assert (
        pull_cost(lay, "any", held=held).summary["pulled_bytes"]
        <= pull_cost(lay, "chain", held=held).summary["pulled_bytes"]
    )


def test_graphs_without_sizes_fail_clearly() -> None:
    from layerlab.errors import GraphError
    from layerlab.metrics import registry_storage, sweep

    g = ClosureGraph.from_records([{"path": f"{S}aaa-a-1", "references": []}], name="nosize")
    s = ImageSet.from_graphs([g])
    lay = Layering.from_paths(s, [[[f"{S}aaa-a-1"]]])
    for call in (lambda: pull_cost(lay), lambda: registry_storage(lay), lambda: sweep(s, "per-path", [3], cache=False)):
        with pytest.raises(GraphError, match="needs narSize for every path of every image"):
            call()
