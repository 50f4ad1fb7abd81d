"""Registry storage, pairwise overlap, layer distribution and churn against hand-computed answers."""

from __future__ import annotations

import math

import pytest

from layerlab.errors import ConfigError
from layerlab.imageset import ImageSet, default_imageset
from layerlab.metrics import Layering, layer_imageset, pull_cost
from layerlab.metrics.churn import changed_graph, churn, rehash
from layerlab.metrics.distribution import layer_counts, layer_sizes
from layerlab.metrics.overlap import overlap, overlap_matrix
from layerlab.metrics.storage import registry_storage
from layerlab.popularity import Popularity
from layerlab.strategies import get_strategy

from .metrics_fixtures import P, S, abc_set, graph, path


@pytest.fixture()
def abc() -> ImageSet:
    return abc_set(Popularity({"c-1": 1000}))


@pytest.fixture()
def per_path(abc: ImageSet) -> Layering:
    return Layering.from_paths(
        abc, [[P("c"), P("b"), P("a")], [P("c"), P("b"), P("d")], [P("c"), P("e")]], label="per-path"
    )


@pytest.fixture()
def merged(abc: ImageSet) -> Layering:
    return Layering.from_paths(abc, [[P("a", "b", "c")], [P("b", "c"), P("d")], [P("c"), P("e")]], label="merged")


# ------------------------------------------------------------------ storage
def test_storage_of_merged_layers(merged: Layering) -> None:
    frame, sm = registry_storage(merged)
    assert frame["bytes"].tolist() == [60, 50, 40, 30, 50]
    assert frame["images"].tolist() == [1, 1, 1, 1, 1]
    assert frame["first_image"].tolist() == ["one", "two", "two", "three", "three"]
    # b is stored twice (20 extra), c three times (60 extra).
    assert (sm["unique_layer_bytes"], sm["union_bytes"], sm["duplicated_bytes"], sm["total_bytes"]) == (
        230,
        150,
        80,
        230,
    )
    assert sm["layers"] == 5 and sm["saving"] == 0.0 and sm["storage_ratio"] == 230 / 150


def test_storage_of_per_path_layers(per_path: Layering) -> None:
    frame, sm = registry_storage(per_path)
    assert dict(zip(frame["bytes"], frame["images"])) == {30: 3, 20: 2, 10: 1, 40: 1, 50: 1}
    assert (sm["unique_layer_bytes"], sm["duplicated_bytes"]) == (150, 0)
    assert sm["saving"] == 1 - 150 / 230


# ------------------------------------------------------------------ overlap
def test_overlap_per_path_loses_nothing(per_path: Layering) -> None:
    frame, sm = overlap(per_path)
    pairs = {(r.image_a, r.image_b): (r.shared_path_bytes, r.shared_layer_bytes) for r in frame.itertuples()}
    assert pairs == {
        ("one", "one"): (60, 60),
        ("one", "two"): (50, 50),
        ("one", "three"): (30, 30),
        ("two", "two"): (90, 90),
        ("two", "three"): (30, 30),
        ("three", "three"): (80, 80),
    }
    assert (sm["pairs"], sm["shared_path_bytes"], sm["shared_layer_bytes"], sm["layer_share"]) == (3, 110, 110, 1.0)


def test_overlap_merged_shares_no_layer(merged: Layering) -> None:
    frame, sm = overlap(merged)
    off = frame[frame.image_a != frame.image_b]
    assert off["shared_path_bytes"].tolist() == [50, 30, 30]
    assert off["shared_layer_bytes"].tolist() == [0, 0, 0]
    assert sm["layer_share"] == 0.0 and sm["pairs_sharing_paths"] == 3 and sm["pairs_sharing_layers"] == 0
    m = overlap_matrix(frame, "shared_path_bytes")
    assert m.index.tolist() == ["one", "two", "three"]
    assert m.values.tolist() == [[60, 50, 30], [50, 90, 30], [30, 30, 80]]


def test_overlap_share_is_nan_without_shared_paths() -> None:
    s = ImageSet.from_graphs([graph("x", {"a": ""}, "a"), graph("y", {"e": ""}, "e")])
    frame, sm = overlap(Layering.from_paths(s, [[P("a")], [P("e")]]))
    assert math.isnan(frame.iloc[1]["layer_share"]) and math.isnan(sm["layer_share"])


# ------------------------------------------------------------- distribution
def test_layer_counts_and_sizes(merged: Layering) -> None:
    frame, sm = layer_counts(merged)
    assert frame["layers"].tolist() == [1, 2, 2]
    assert frame["headroom"].tolist() == [126, 125, 125]
    assert frame["largest_layer_bytes"].tolist() == [60, 50, 50]
    assert frame["largest_share"].tolist() == [1.0, 50 / 90, 50 / 80]
    assert frame["median_layer_bytes"].tolist() == [60.0, 45.0, 40.0]
    assert frame["smallest_layer_bytes"].tolist() == [60, 40, 30]
    assert (sm["max_layers"], sm["min_headroom"], sm["max_largest_share"]) == (2, 125, 1.0)
    assert layer_counts(merged, limit=2).summary["min_headroom"] == 0
    sizes, ssm = layer_sizes(merged)
    assert sizes[["image", "position", "bytes", "paths"]].values.tolist() == [
        ["one", 0, 60, 3],
        ["two", 0, 50, 2],
        ["two", 1, 40, 1],
        ["three", 0, 30, 1],
        ["three", 1, 50, 1],
    ]
    assert (ssm["max_bytes"], ssm["p50_bytes"], ssm["layer_instances"]) == (60, 50.0, 5)


def test_shared_layer_counted_per_image(per_path: Layering) -> None:
    sizes, _ = layer_sizes(per_path)
    assert sizes[sizes.bytes == 30]["images"].tolist() == [3, 3, 3]


# -------------------------------------------------------------------- churn
def test_rehash_keeps_name_and_changes_hash() -> None:
    new = rehash(path("b"))
    assert new.endswith("-b-1") and new.startswith(S) and new != path("b")
    assert len(new) == len(S) + 32 + len("-b-1")
    g = graph("one", {"a": "b", "b": "c", "c": ""}, "a")
    ng, renamed = changed_graph(g, path("b"))
    assert sorted(renamed) == [path("a"), path("b")]
    assert path("c") in ng.index and path("a") not in ng.index
    assert sorted(ng.nar_size) == [10, 20, 30] and [ng.paths[r] for r in ng.roots] == [renamed[path("a")]]


def test_churn_by_hand(abc: ImageSet) -> None:
    # Nixery with c popular: one = [{a,b} rating 30, {c} rating 30000], and so on.
    s = get_strategy("nixery")
    lay = layer_imageset(s, abc, 94)
    assert [len(ls) for ls in lay.layers] == [2, 2, 2]
    frame, sm = churn(s, abc, 94, images=["one"])
    rows = {r.changed: r for r in frame.itertuples()}
    a, b, c = rows[path("a")], rows[path("b")], rows[path("c")]
    # a changes: {a',b} is new (30), {c} kept; ChainID re-pulls c too (above a miss).
    assert (a.dependents, a.changed_bytes, a.repushed_bytes, a.repulled_any_bytes, a.repulled_chain_bytes) == (
        1,
        10,
        30,
        30,
        60,
    )
    assert a.amplification == 3.0 and a.new_layers == 1 and a.layers == 2
    # b changes: a and b renamed.
    assert (b.dependents, b.changed_bytes, b.repushed_bytes, b.repulled_any_bytes, b.repulled_chain_bytes) == (
        2,
        30,
        30,
        30,
        60,
    )
    # c changes: everything renamed.
    assert (c.dependents, c.changed_bytes, c.repushed_bytes, c.repulled_any_bytes, c.repulled_chain_bytes) == (
        3,
        60,
        60,
        60,
        60,
    )
    assert (sm["changes"], sm["changed_bytes"], sm["repushed_bytes"], sm["repulled_any_bytes"]) == (3, 100, 120, 120)
    assert sm["amplification"] == 1.2


def test_churn_repush_counts_registry_layers(abc: ImageSet) -> None:
    # Layer {c} of "three" is in the registry: changing e in three re-pushes only {e'}.
    frame, _ = churn(get_strategy("nixery"), abc, 94, images=["three"], changes=["e-1"])
    r = frame.iloc[0]
    assert (r.image, r.changed, r.repushed_bytes, r.repulled_any_bytes) == ("three", path("e"), 50, 50)
    # chain: new layers are [{e'}, {c}] sorted by rating, e' below c: both re-pulled.
    assert r.repulled_chain_bytes == 80


def test_churn_unknown_change(abc: ImageSet) -> None:
    with pytest.raises(ConfigError, match="matches nope-1"):
        churn(get_strategy("nixery"), abc, 94, changes=["nope-1"])


def test_churn_on_debian_bounds() -> None:
    s = default_imageset().subset(["img-curl", "img-git"])
    frame, sm = churn(get_strategy("nixery"), s, 10, progress=False)
    assert len(frame) == sum(len(g) for g in s.graphs)
    assert (frame["repulled_any_bytes"] >= frame["changed_bytes"]).all()
    assert (frame["repulled_chain_bytes"] >= frame["repulled_any_bytes"]).all()
    assert (frame["repulled_any_bytes"] <= frame.image.map({i.name: i.bytes for i in s})).all()
    # libc6 is in both closures and everything depends on it: every path of curl is renamed.
    libc = frame[(frame.image == "img-curl") & frame.changed.str.contains("-libc6-")].iloc[0]
    assert libc.dependents >= len(s["img-curl"].graph) - 2


def test_pull_of_strategy_on_small_set(abc: ImageSet) -> None:
    lay = layer_imageset(get_strategy("nixery"), abc, 94)
    # one: {a,b},{c}; two: {b,d},{c}; three: {e},{c}: 30+30 + 60 + 50
    assert pull_cost(lay).frame["pulled_bytes"].tolist() == [60, 60, 50]


def test_rating_layer_order_helps_the_chain_rule(abc: ImageSet) -> None:
    s = get_strategy("nixery")
    # The 2019 order is ascending rating: [{a,b}, {c}], [{b,d}, {c}], [{e}, {c}]; {c} sits above a miss each time.
    assert pull_cost(layer_imageset(s, abc, 94), "chain").frame["pulled_bytes"].tolist() == [60, 90, 80]
    # Later Nixery's order puts the highest rating first: [{c}, {a,b}], [{c}, {b,d}], [{c}, {e}]: c is reused.
    rated = layer_imageset(s.replace(layer_order="rating"), abc, 94)
    assert [[len(layer) for layer in ls] for ls in rated.layers] == [[1, 2], [1, 2], [1, 1]]
    assert pull_cost(rated, "chain").frame["pulled_bytes"].tolist() == [60, 60, 50]
    assert get_strategy("nixery-2022").layer_order == "rating"
    with pytest.raises(ConfigError, match="layer_order must be one of printed, rating"):
        get_strategy("nixery", layer_order="manifest")
