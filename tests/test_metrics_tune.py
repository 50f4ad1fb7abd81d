"""Tuning: best point, sensitivity, train/test figures, search methods."""

from __future__ import annotations

import pytest

from layerlab.errors import ConfigError
from layerlab.imageset import default_imageset
from layerlab.metrics import layer_imageset, pull_cost
from layerlab.metrics.sweep import grid, sweep
from layerlab.metrics.tune import tune
from layerlab.strategies import get_strategy

SPACE = {"size_threshold": [10**6, 10**7, 10**8, 10**9], "popularity_threshold": [3, 30, 300, 3000]}


@pytest.fixture(scope="module")
def sets():
    s = default_imageset()
    return s.subset(range(0, 30, 2), name="even"), s.subset(range(1, 30, 2), name="odd")


def test_grid_finds_the_minimum_of_the_sweep(sets) -> None:  # noqa: ANN001
    train, test = sets
    r = tune("nixery", train, budget=30, space=SPACE, evaluate_on=test, executor="serial", cache=False)
    df = sweep(train, grid("nixery", SPACE), [30], executor="serial", cache=False)
    best = df.loc[df["pulled_bytes"].idxmin()]
    assert r.value == best.pulled_bytes
    assert (r.strategy.size_threshold, r.strategy.popularity_threshold) == (best.size_threshold, best.popularity_threshold)
    assert r.baseline == pull_cost(layer_imageset(get_strategy("nixery"), train, 30)).summary["pulled_bytes"]
    assert r.value <= r.baseline
    # Train/test: the same two configurations, measured on the other images.
    assert r.test_value == pull_cost(layer_imageset(r.strategy, test, 30)).summary["pulled_bytes"]
    assert r.test_baseline == pull_cost(layer_imageset(get_strategy("nixery"), test, 30)).summary["pulled_bytes"]
    sm = r.summary()
    assert (sm["train_set"], sm["test_set"], sm["points"]) == ("even", "odd", 17)  # 16 grid points + the start
    assert sm["improvement"] == 1 - r.value / r.baseline


def test_sensitivity_moves_one_parameter(sets) -> None:  # noqa: ANN001
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


def test_coordinate_descent_and_random(sets) -> None:  # noqa: ANN001
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
    a = tune("nixery", train, budget=10, space=SPACE, method="random", samples=12, seed=3, executor="serial", cache=False)
    b = tune("nixery", train, budget=10, space=SPACE, method="random", samples=12, seed=3, executor="serial", cache=False)
    assert a.strategy == b.strategy and a.value == b.value and a.value <= a.baseline
    assert all(10**6 <= v <= 10**9 for v in a.points.size_threshold)


def test_other_objectives(sets) -> None:  # noqa: ANN001
    train, _ = sets
    r = tune("nixery", train, "storage_bytes", budget=30, space={"popularity_threshold": [3, 3000]}, executor="serial", cache=False)
    assert r.objective == "storage_bytes"

    def layers_then_bytes(frame):  # noqa: ANN001, ANN202
        return frame["max_layers"] * 1e12 + frame["pulled_bytes"]

    r2 = tune("nixery", train, layers_then_bytes, budget=30, space={"popularity_threshold": [3, 3000]}, executor="serial", cache=False)
    assert r2.objective == "layers_then_bytes"
    assert r2.value == min(r2.points.max_layers * 1e12 + r2.points.pulled_bytes)


def test_errors(sets) -> None:  # noqa: ANN001
    train, _ = sets
    with pytest.raises(ConfigError, match="unknown method 'anneal'"):
        tune("nixery", train, method="anneal", space=SPACE, cache=False)
    with pytest.raises(ConfigError, match="unknown objective 'speed'"):
        tune("nixery", train, "speed", space=SPACE, executor="serial", cache=False)
    with pytest.raises(ConfigError, match="the search space is empty"):
        tune("nixery", train, space={"size_threshold": []}, cache=False)
    with pytest.raises(ConfigError, match="popularity_threshold=-3 is below the minimum"):
        tune("nixery", train, space={"popularity_threshold": [-3]}, cache=False)
