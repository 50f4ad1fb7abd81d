"""The peers' figures on the Debian 30-image set (data/README.md), pulled in file-name order, any digest.

| budget | Nixery 2019 | popularity contest | auto-layer |
|   94   |    1.77     |       1.03         |    1.03    |
|   30   |    1.77     |       1.56         |    1.35    |
|   10   |    1.81     |       1.91         |    1.55    |

The popularity-contest figures were measured with the appearance count as the
score (``score="appearances"``), see layerlab.strategies.popularity_contest.
"""

from __future__ import annotations

import pytest

from layerlab.imageset import default_imageset
from layerlab.metrics import layer_imageset, pull_cost
from layerlab.metrics.sweep import sweep
from layerlab.strategies import get_strategy

FIGURES = {
    "nixery": ({}, [1.77, 1.77, 1.81]),
    "popularity-contest": ({"score": "appearances"}, [1.03, 1.56, 1.91]),
    "auto-layer": ({}, [1.03, 1.35, 1.55]),
}


@pytest.fixture(scope="module")
def debian():
    return default_imageset()


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_peer_figures(debian, name: str) -> None:
    params, ratios = FIGURES[name]
    strategy = get_strategy(name, **params)
    assert debian.names == tuple(sorted(debian.names))  # file-name order
    df = sweep(debian, strategy, [94, 30, 10], executor="serial", cache=False)
    for row, budget, ratio in zip(df.itertuples(), [94, 30, 10], ratios):
        summary = pull_cost(layer_imageset(strategy, debian, budget), "any").summary
        assert row.pulled_bytes == summary["pulled_bytes"]
        assert summary["ideal_bytes"] == debian.union_bytes == row.ideal_bytes
        assert round(summary["pulled_bytes"] / summary["ideal_bytes"], 2) == ratio
