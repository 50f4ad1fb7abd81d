"""The benchmarks' baselines compute what layerlab computes, so the ratios compare equal work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from layerlab.popularity import load_popularity
from layerlab.sources.files import load_graph
from layerlab.strategies import Context, get_strategy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import _straightforward_nixery as baseline  # noqa: E402

DEBIAN = ROOT / "data" / "debian"


def quadratic_merge(layers: list, budget: int) -> list:
    """The merge loop copied literally: drop the first element, concatenate contents."""
    while len(layers) > budget:
        a, b = layers[0], layers[1]
        layers[1] = (a[0] + b[0], a[1], a[2] + b[2])
        layers = layers[1:]
    return layers


@given(
    st.lists(st.tuples(st.integers(0, 100), st.lists(st.text("ab", min_size=1), max_size=3)), max_size=12),
    st.integers(1, 14),
)
def test_the_constant_time_merge_equals_the_literal_loop(raw: list, budget: int) -> None:
    layers = sorted((r, f"h{n}", contents) for n, (r, contents) in enumerate(raw))
    expected = quadratic_merge([(r, h, list(c)) for r, h, c in layers], budget)
    assert baseline.merge([(r, h, list(c)) for r, h, c in layers], budget) == expected


def test_the_nixery_baseline_groups_as_layerlab_does() -> None:
    graph = load_graph(DEBIAN / "kde-full.graph.json")
    pop = load_popularity(DEBIAN / "popularity.json")
    doc = json.loads((DEBIAN / "kde-full.graph.json").read_text())
    for budget in (94, 30, 10, 2):
        ours = get_strategy("nixery").group(graph, Context(pop), budget)
        assert [list(layer.paths) for layer in ours] == baseline.group(doc, dict(pop.counts), budget)
