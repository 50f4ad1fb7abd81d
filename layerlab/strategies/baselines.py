"""The two trivial layerings every other strategy is measured between.

* ``single-layer``: the whole closure in one layer (``dockerTools.buildImage``).
  Nothing is shared between images unless the closures are identical.
* ``per-path``: one layer per store path, the shape of the ideal bound.  Within
  a budget smaller than the closure, the ``budget - 1`` largest paths
  (``narSize``, ties by path) keep a layer each and the rest share one layer,
  so the bytes that matter most stay shareable.  Without ``narSize`` the paths
  are taken in path order.

Output order: ``per-path`` lists its single-path layers by size, largest
first, then the shared layer (reason ``rest``).  Cycles need no care: neither
strategy looks at references.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "narSize": 1}, {"path": "/s/b-b", "narSize": 5},
    ...                                {"path": "/s/c-c", "narSize": 3}])
    >>> [l.paths for l in PerPath().group(g, budget=2)]
    [('/s/b-b',), ('/s/a-a', '/s/c-c')]
    >>> [l.paths for l in SingleLayer().group(g, budget=2)]
    [('/s/a-a', '/s/b-b', '/s/c-c')]
"""

from __future__ import annotations

from dataclasses import dataclass

from ..graph import ClosureGraph
from .base import Context, Layer, Strategy, make_layer

__all__ = ["PerPath", "SingleLayer"]


@dataclass(frozen=True, eq=False)
class SingleLayer(Strategy):
    """Everything in one layer."""

    name = "single-layer"
    summary = "baseline: the whole closure in one layer"
    rename_invariant = True

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        return [make_layer(graph, range(len(graph.paths)), reason="single")]


@dataclass(frozen=True, eq=False)
class PerPath(Strategy):
    """One layer per path; the largest ``budget - 1`` when the budget is short."""

    name = "per-path"
    summary = "baseline: one layer per store path (largest budget-1 paths alone, the rest shared)"

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        n = len(graph.paths)
        nar = graph.nar_size
        order = sorted(range(n), key=lambda i: (-nar[i], i)) if nar is not None else list(range(n))
        if n <= budget:
            return [make_layer(graph, [i], reason="path", root=i) for i in order]
        alone = order[: budget - 1]
        rest = order[budget - 1 :]
        return [*(make_layer(graph, [i], reason="path", root=i) for i in alone), make_layer(graph, rest, reason="rest")]
