"""Tuning: best point, sensitivity, train/test figures, search methods."""

from __future__ import annotations

import pytest

from layerlab.errors import ConfigError
from layerlab.imageset import default_imageset
from layerlab.metrics import layer_imageset, pull_cost
from layerlab.metrics.tune import tune
from layerlab.strategies import get_strategy

SPACE = {"size_threshold": [10**6, 10**7, 10**8, 10**9], "popularity_threshold": [3, 30, 300, 3000]}


@pytest.fixture(scope="module")
def sets():
    s = default_imageset()
    return s.subset(range(0, 30, 2), name="even"), s.subset(range(1, 30, 2), name="odd")


def pulled_bytes_any_digest(strategy, imageset, budget: int) -> int:
    """Written here, independent of sweep() and pull_cost(): one client pulls every image; a layer whose exact path
    set it already holds is not pulled again (the any-digest rule), so it pulls each distinct layer once."""
    from layerlab.strategies import Context

    distinct: dict[frozenset[str], int] = {}
    for image in imageset.images:
        for layer in strategy.group(image.graph, Context(imageset.popularity), budget):
            distinct[frozenset(layer.paths)] = sum(image.graph.nar_size[image.graph.index[p]] for p in layer.paths)
    return sum(distinct.values())


def test_grid_finds_the_minimum_of_an_exhaustive_search(sets) -> None:
    train, test = sets
    r = tune("nixery", train, budget=30, space=SPACE, evaluate_on=test, executor="serial", cache=False)
    # Exhaustive search: every combination, in grid order, the first minimum kept.
    best, best_bytes = None, None
    for size_threshold in SPACE["size_threshold"]:
        for popularity_threshold in SPACE["popularity_threshold"]:
            s = get_strategy("nixery", size_threshold=size_threshold, popularity_threshold=popularity_threshold)
            pulled = pulled_bytes_any_digest(s, train, 30)
            if best_bytes is None or pulled < best_bytes:
                best, best_bytes = s, pulled
    assert r.value == best_bytes
    assert r.strategy == best
    assert r.baseline == pulled_bytes_any_digest(get_strategy("nixery"), train, 30)
    assert r.value <= r.baseline
    # Train/test: the same two configurations, measured on the other images.
    assert r.test_value == pulled_bytes_any_digest(r.strategy, test, 30)
    assert r.test_baseline == pulled_bytes_any_digest(get_strategy("nixery"), test, 30)
    sm = r.summary()
    assert (sm["train_set"], sm["test_set"], sm["points"]) == ("even", "odd", 17)  # 16 grid points + the start
    assert sm["improvement"] == 1 - r.value / r.baseline


def test_sensitivity_moves_one_parameter(sets) -> None:
    train, _ = sets
    r = tune("nixery", train, budget=30, space=SPACE, executor="serial", cache=False)
    sens = r.sensitivity
    for param, values in SPACE.items():
        rows = sens[sens.param == param]
        pos = values.index(getattr(r.strategy, param))
        expect = [(off, values[pos + off]) for off in (-2, -1, 0, 1, 2) if 0 <= pos + off < len(values)]
        assert list(zip(rows.offset, rows.value)) == expect
        for row in rows.itertuples():
            moved = r.strategy.replace(**{param: row.value})
            assert row.objective == pull_cost(layer_imageset(moved, train, 30)).summary["pulled_bytes"]
            assert row.change == (row.objective - r.value) / r.value
        assert rows[rows.offset == 0].objective.item() == r.value
    assert (sens.objective >= r.value).all()


def test_coordinate_descent_and_random(sets) -> None:
    train, _ = sets
    full = tune("nixery", train, budget=10, space=SPACE, executor="serial", cache=False)
    cd = tune("nixery", train, budget=10, space=SPACE, method="coordinate", executor="serial", cache=False)
    assert cd.value >= full.value and cd.value <= cd.baseline
    assert len(cd.points) <= 1 + 2 * 5 * 4  # at most a few rounds of 4 + 4 candidates
    # Coordinate descent ends at a point no single-parameter move improves.
    for param, values in SPACE.items():
        for v in values:
            moved = cd.strategy.replace(**{param: v})
            assert pull_cost(layer_imageset(moved, train, 10)).summary["pulled_bytes"] >= cd.value
    a = tune(
        "nixery", train, budget=10, space=SPACE, method="random", samples=12, seed=3, executor="serial", cache=False
    )
    b = tune(
        "nixery", train, budget=10, space=SPACE, method="random", samples=12, seed=3, executor="serial", cache=False
    )
    assert a.strategy == b.strategy and a.value == b.value and a.value <= a.baseline
    assert all(10**6 <= v <= 10**9 for v in a.points.size_threshold)


def test_other_objectives(sets) -> None:
    train, _ = sets
    r = tune(
        "nixery",
        train,
        "storage_bytes",
        budget=30,
        space={"popularity_threshold": [3, 3000]},
        executor="serial",
        cache=False,
    )
    assert r.objective == "storage_bytes"

    def layers_then_bytes(frame):
        return frame["max_layers"] * 1e12 + frame["pulled_bytes"]

    r2 = tune(
        "nixery",
        train,
        layers_then_bytes,
        budget=30,
        space={"popularity_threshold": [3, 3000]},
        executor="serial",
        cache=False,
    )
    assert r2.objective == "layers_then_bytes"
    assert r2.value == min(r2.points.max_layers * 1e12 + r2.points.pulled_bytes)


def test_errors(sets) -> None:
    train, _ = sets
    with pytest.raises(ConfigError, match="unknown method 'anneal'"):
        tune("nixery", train, method="anneal", space=SPACE, cache=False)
    with pytest.raises(ConfigError, match="unknown objective 'speed'"):
        tune("nixery", train, "speed", space=SPACE, executor="serial", cache=False)
    with pytest.raises(ConfigError, match="the search space is empty"):
        tune("nixery", train, space={"size_threshold": []}, cache=False)
    with pytest.raises(ConfigError, match="popularity_threshold=-3 is below the minimum"):
        tune("nixery", train, space={"popularity_threshold": [-3]}, cache=False)


def test_an_optional_parameter_left_off_at_the_best_point(sets) -> None:
    train, _ = sets
    space = {"popularity_percentile": [99.0, 100.0]}
    r = tune("nixery", train, budget=1, space=space, method="random", samples=1, seed=0, executor="serial", cache=False)
    off = r.sensitivity[r.sensitivity.offset == 0]
    assert r.strategy.popularity_percentile is None or r.strategy.popularity_percentile in (99.0, 100.0)
    assert len(off) == 1 and off.objective.item() == r.value
