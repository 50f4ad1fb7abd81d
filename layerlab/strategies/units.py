"""Units, step 1 of :mod:`.keystone`, on which ``keystone`` and ``bedrock`` both build.

A path whose package is referenced by at most ``attach_popularity`` packages
of the package set (the popularity table) and by exactly one path of the
image is attached to that referrer; a dependency cycle is one unit and is
never attached.  Following attachments up gives each path its unit head.  A
module of its own, so that each of the two strategies loads without the other.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> g = ClosureGraph.from_records([{"path": "/s/a", "references": ["/s/b"]}, {"path": "/s/b"}])
    >>> keystone_units(g, [5, 1], 1)
    {0: [0, 1]}
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..graph import ClosureGraph

__all__ = ["UnitTable", "keystone_units", "unit_sizes", "unit_table"]


def keystone_units(
    graph: ClosureGraph, pops: tuple[int, ...] | list[int], attach_popularity: int
) -> dict[int, list[int]]:
    """Unit head -> member path indices (head included), see the module documentation.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> g = ClosureGraph.from_records([{"path": "/s/a", "references": ["/s/b"]}, {"path": "/s/b"}])
        >>> keystone_units(g, [5, 1], 1), keystone_units(g, [5, 2], 1)
        ({0: [0, 1]}, {0: [0], 1: [1]})
    """
    n = len(graph.paths)
    if n >= _VECTORISE_FROM:
        return _units_large(graph, pops, attach_popularity)
    comp_head = list(range(n))
    in_cycle = bytearray(n)
    for comp in graph.cycles:
        for i in comp:
            comp_head[i] = comp[0]
            in_cycle[i] = 1
    parent = list(comp_head)
    back = graph.referrers
    for i in range(n):
        if in_cycle[i] or pops[i] > attach_popularity:
            continue
        referrers = {comp_head[r] for r in back[i]}
        if len(referrers) == 1:
            parent[i] = referrers.pop()
    # Resolve heads (attachments form a forest: each path has at most one parent).
    head = [-1] * n
    for i in range(n):
        chain = []
        j = i
        while head[j] == -1 and parent[j] != j:
            chain.append(j)
            j = parent[j]
            if len(chain) > n:  # pragma: no cover - attachments cannot loop
                break
        h = head[j] if head[j] != -1 else j
        head[j] = h
        for c in chain:
            head[c] = h
    units: dict[int, list[int]] = {}
    for i in range(n):
        units.setdefault(head[i], []).append(i)
    return units


#: From this many paths on, units are found with numpy.
_VECTORISE_FROM = 4096


def _units_large(graph: ClosureGraph, pops: Sequence[int], attach_popularity: int) -> dict[int, list[int]]:
    """:func:`keystone_units` in numpy (:func:`unit_table`)."""
    import numpy as np

    n = len(graph.paths)
    table = unit_table(graph, np.fromiter(map(attach_popularity.__ge__, pops), dtype=bool, count=n))
    return dict(zip(table.heads, table.members))


@dataclass(frozen=True)
class UnitTable:
    """The units of :func:`unit_table`, numbered by their smallest path.

    Attributes:
        heads: each unit's head path.
        members: each unit's paths, ascending (the head among them).
        unit_of: each path's unit number (a numpy integer array).
        flat: every path, unit by unit, as ``members`` lists them (a numpy integer array).
        bounds: unit ``k``'s paths are ``flat[bounds[k]:bounds[k + 1]]`` (a numpy integer array).
    """

    heads: list[int]
    members: list[list[int]]
    unit_of: Any
    flat: Any
    bounds: Any


def unit_table(graph: ClosureGraph, attachable: Any) -> UnitTable:
    """The units of step 1 in numpy, where ``attachable`` (a numpy boolean
    array) says which paths may join their only referrer.

    Distinct referring components per path come from the smallest and largest
    of them, heads by pointer jumping up the attachments, and the grouping
    from sorts of ``unit * n + path`` keys; numbered by their smallest path,
    the units come in the order of :func:`keystone_units`.

    Example:
        >>> import numpy as np
        >>> from layerlab.graph import ClosureGraph
        >>> g = ClosureGraph.from_records([
        ...     {"path": "/s/a", "references": ["/s/c"]}, {"path": "/s/b"}, {"path": "/s/c"}])
        >>> t = unit_table(g, np.array([False, False, True]))
        >>> t.heads, t.members, t.unit_of.tolist()
        ([0, 1], [[0, 2], [1]], [0, 1, 0])
    """
    import numpy as np

    n = len(graph.paths)
    nodes = np.arange(n, dtype=np.int64)
    comp_head = nodes.copy()
    may_attach = np.array(attachable, dtype=bool)
    for comp in graph.cycles:
        comp_head[list(comp)] = comp[0]
        may_attach[list(comp)] = False
    src, dst = graph.edge_arrays
    wanted = may_attach[dst]
    target, referrer = dst[wanted], comp_head[src[wanted]]
    # A path's referrers lie in one component when the smallest and largest component agree.
    low = np.full(n, n, dtype=np.int64)
    high = np.full(n, -1, dtype=np.int64)
    np.minimum.at(low, target, referrer)
    np.maximum.at(high, target, referrer)
    parent = np.where(low == high, low, comp_head)
    # Attachments form a forest whose roots point to themselves: jump until every path points to its root.
    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            break
        parent = up
    # Paths by head, ascending within a head (the keys are distinct).
    key = np.sort(parent * n + nodes)
    head_of = key // max(n, 1)
    starts = np.flatnonzero(np.concatenate(([True], head_of[1:] != head_of[:-1]))) if n else nodes
    # Units numbered by their smallest path, which a head's first key holds.
    by_first = np.argsort(key[starts] - head_of[starts] * n)
    number = np.empty(len(starts), dtype=np.int64)
    number[by_first] = np.arange(len(starts), dtype=np.int64)
    unit_of = np.empty(n, dtype=np.int64)
    unit_of[key - head_of * n] = np.repeat(number, np.diff(np.append(starts, n)))
    flat = np.sort(unit_of * n + nodes) % max(n, 1)
    bounds = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(unit_of, minlength=len(starts)), out=bounds[1:])
    members = flat.tolist()
    offsets = bounds.tolist()
    return UnitTable(
        heads=head_of[starts[by_first]].tolist(),
        members=list(map(members.__getitem__, map(slice, offsets[:-1], offsets[1:]))),
        unit_of=unit_of,
        flat=flat,
        bounds=bounds,
    )


def unit_sizes(members: Sequence[Sequence[int]], nar: Sequence[int]) -> list[int]:
    """The ``narSize`` sum of every unit's members (numpy on large graphs when the sums fit).

    Example:
        >>> unit_sizes([[1], [0, 2]], [5, 7, 1])
        [7, 6]
    """
    if len(nar) < _VECTORISE_FROM or sum(nar) >= 2**63:
        return [sum(map(nar.__getitem__, m)) for m in members]
    import numpy as np

    flat = np.fromiter(map(nar.__getitem__, itertools.chain.from_iterable(members)), dtype=np.int64, count=len(nar))
    starts = np.cumsum(np.fromiter(map(len, members), dtype=np.int64, count=len(members))) - 1
    totals = np.cumsum(flat)[starts]
    return np.diff(totals, prepend=0).tolist()
