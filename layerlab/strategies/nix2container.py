"""nix2container's popularity layering.

Transcribed from nix2container's ``closure/popularity.go`` (commit
``06f38afb72568f3bf3e0b27fb3983b0743014da5``).

**Score.**  Every path starts at 1; in topological order (users first) each
path adds its score to every path it references, so::

    score(p) = 1 + sum(score(u) for u referencing p)

which is the number of reference walks ending at ``p``, from any path.

**Order.**  Score descending; ties keep the topological order nix2container's
graph library produces: the reverse of the order in which a depth-first
Tarjan search, started from the paths in order and following references in
order, completes them.  nix2container numbers paths by first appearance in its
input; layerlab numbers them by sorted path, so on the same graph the two agree
whenever the input lists paths sorted (Nix does).

**Layers.**  The first ``budget - 1`` paths get a layer each and the rest share
the last (nix2container's ``maxLayers`` grouping).

**Cycles.**  nix2container refuses a graph with a cycle.  Here a cycle counts as
one node: its members share ``1 + sum(score(u))`` over referrers outside the
cycle (each referring component counted once) and keep their topological
positions for ties.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> recs = [{"path": p, "references": list(r)} for p, r in
    ...         [("A", "BG"), ("B", "CE"), ("C", "DE"), ("D", "F"), ("E", "F"), ("F", ""), ("G", "")]]
    >>> [p for l in Nix2Container().group(ClosureGraph.from_records(recs), budget=10) for p in l.paths]
    ['F', 'E', 'D', 'C', 'G', 'B', 'A']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..graph import ClosureGraph, condensation
from .base import Context, Layer, Strategy
from .popularity_contest import first_n_layers

__all__ = ["Nix2Container", "nix2container_order"]


def nix2container_order(n: int, refs: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """``(index, score)`` of every node, most popular first (see the module documentation).

    Example:
        >>> nix2container_order(3, [(1, 2), (2,), ()])
        [(2, 4), (1, 2), (0, 1)]
    """
    cond = condensation(n, refs)  # topological order = reversed completion order
    score = [0] * len(cond.comps)
    for c in range(len(cond.comps)):
        score[c] = 1 + sum(score[p] for p in cond.pred[c])
    topo = [(i, score[c]) for c, comp in enumerate(cond.comps) for i in comp]
    topo.sort(key=lambda t: -t[1])  # stable: ties keep the topological order
    return topo


@dataclass(frozen=True, eq=False)
class Nix2Container(Strategy):
    """nix2container: ``1 + sum of referrers' scores``, first ``budget - 1`` paths alone."""

    name = "nix2container"
    summary = "nix2container: score = 1 + sum of referrers' scores, first budget-1 paths alone, rest merged"

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        return first_n_layers(graph, nix2container_order(len(graph.paths), graph.refs), budget, "popularity")
