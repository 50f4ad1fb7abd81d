"""Small image sets whose metrics are worked out by hand, shared by the metrics tests."""

from __future__ import annotations

from layerlab.graph import ClosureGraph
from layerlab.imageset import ImageSet
from layerlab.popularity import Popularity

S = "/nix/store/"
SIZES = {"a": 10, "b": 20, "c": 30, "d": 40, "e": 50}


def path(p: str) -> str:
    return f"{S}{p}{p}{p}-{p}-1"


def P(*names: str) -> list[str]:
    return sorted(path(n) for n in names)


def graph(name: str, refs: dict[str, str], root: str) -> ClosureGraph:
    recs = [{"path": path(p), "narSize": SIZES[p], "references": [path(r) for r in rs]} for p, rs in refs.items()]
    return ClosureGraph.from_records(recs, [path(root)], name=name)


def abc_set(popularity: Popularity | None = None) -> ImageSet:
    """one: a->b->c (60 bytes); two: d->b->c (90); three: e->c (80).  Union 150, sum 230."""
    return ImageSet.from_graphs(
        [
            graph("one", {"a": "b", "b": "c", "c": ""}, "a"),
            graph("two", {"d": "b", "b": "c", "c": ""}, "d"),
            graph("three", {"e": "c", "c": ""}, "e"),
        ],
        name="abc",
        popularity=popularity,
    )
