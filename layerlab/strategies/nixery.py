"""Nixery's grouping: big-or-popular paths and the dominator tree.

The algorithm of Nixery's 2019 ``group-layers`` program, with every constant
a parameter.  Transcribed from Nixery's
``tools/nixery/build-image/group-layers.go`` (commit
``6d718bf2713a7e2209197247976390b878f51313``); the ``nixery-2022`` preset's
threshold and forced popularities from Nixery's ``layers/layers.go`` (commit
``0d880c60b5f89cadcb876c4bb5420a8e80659b82``).

1. Add an artificial root with an edge to every image root, and an edge from
   every path to each path it references.
2. A path is *big* when its size (``closureSize`` by default, ``narSize`` with
   ``size_measure="nar"``) exceeds ``size_threshold``, and *popular* when its
   popularity reaches ``popularity_threshold``.  Each big or popular path gets
   an extra edge from the artificial root.
3. Compute the dominator tree from the artificial root.  Each child of the root
   starts a layer holding its whole dominated subtree.
4. A layer's merge rating is the popularity of its first path times the sum of
   the sizes of its paths.
5. While there are more layers than the budget, merge the lowest-rated ones:

   * ``merge_mode="seed"`` (Nixery): sort once, ascending; repeatedly merge the
     first two (ratings add up) and keep the result in front without
     re-sorting.  The result is the ``budget - 1`` highest-rated layers plus
     one layer holding all the rest.
   * ``merge_mode="resort"``: after each merge put the merged layer back in its
     sorted place, so small layers keep merging with each other.

Differences from the 2019 program, all where it crashed, lost data or was
random:

* **Ties** in rating are broken by the layer's root path (ascending), so the
  output is the same on every run; the 2019 program's unstable sort made it
  random.
* **Paths no root reaches** are kept, in one layer of reason ``unreachable``
  with rating 0 (merged first when over budget), and a
  :class:`~layerlab.strategies.nixery.UnreachablePathsWarning` is issued; the
  2019 program dropped them.
* **Order of output**: with ``seed`` merging the catch-all layer comes first,
  then the others by ascending rating, as the 2019 program printed them and
  its image builder stacked them (``layer_order="printed"``); paths inside a
  layer are sorted.  Later Nixery sorts the manifest's layers by merge rating,
  highest first (``layer_order="rating"``, the ``nixery-2022`` preset); its
  sort is unstable, here equal ratings keep their printed order.  The order
  returned is the order of ``layers.json`` and of a built image.

Cycles need no special care: dominators are defined on any graph.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> from layerlab.popularity import Popularity
    >>> from layerlab.strategies.base import Context
    >>> g = ClosureGraph.from_records([
    ...     {"path": "/nix/store/a-app-1", "closureSize": 30, "references": ["/nix/store/c-libc-2"]},
    ...     {"path": "/nix/store/b-tool-1", "closureSize": 25, "references": ["/nix/store/c-libc-2"]},
    ...     {"path": "/nix/store/c-libc-2", "closureSize": 20, "references": []}],
    ...     ["/nix/store/a-app-1", "/nix/store/b-tool-1"])
    >>> layers = Nixery().group(g, Context(Popularity({"libc-2": 5000})), budget=2)
    >>> [(l.paths, l.reason) for l in layers]
    [(('/nix/store/a-app-1', '/nix/store/b-tool-1'), 'merged'), (('/nix/store/c-libc-2',), 'popular')]
"""

from __future__ import annotations

import heapq
import itertools
import operator
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

import orjson

from ..graph import BoundedCache, ClosureGraph, reference_arrays
from ..popularity import NIXERY_2022_FORCED, Popularity
from .base import Context, Layer, LayerBatch, Strategy, param

__all__ = [
    "Nixery",
    "NixeryAnalysis",
    "UnreachablePathsWarning",
    "DominatorSplit",
    "RatedSplit",
    "dominator_split",
    "immediate_dominators",
    "rate_split",
    "merge_groups",
    "merge_split",
]


class UnreachablePathsWarning(UserWarning):
    """Some paths of a graph are reachable from no root; they were kept in a layer of their own."""


def immediate_dominators(
    n: int, refs: Sequence[Sequence[int]], starts: Sequence[int], *, edges: tuple[Any, Any] | None = None
) -> list[int]:
    """Immediate dominators of a graph of ``n`` nodes seen from an artificial root.

    The artificial root is node ``n``, with an edge to every node of ``starts``.
    Returns a list of length ``n``: the immediate dominator of each node
    (``n`` for the children of the artificial root, ``-1`` for unreachable
    nodes).  Computed with rustworkx's compiled Cooper-Harvey-Kennedy
    implementation, or on graphs too small to repay its import with the same
    algorithm in plain Python (immediate dominators are unique: both agree).
    ``edges``, the references as numpy arrays (:attr:`ClosureGraph.edge_arrays`),
    spares building them again.

    Example:
        >>> immediate_dominators(3, [(1, 2), (2,), ()], [0])
        [3, 0, 0]
    """
    if n < _VECTORISE_FROM:
        return _dominators_small(n, refs, starts)
    return _dominators_large(n, refs, starts, edges).tolist()


def _dominators_large(
    n: int, refs: Sequence[Sequence[int]] | None, starts: Sequence[int], edges: tuple[Any, Any] | None
) -> Any:
    """:func:`immediate_dominators` through rustworkx, as a numpy array."""
    import numpy as np
    import rustworkx as rx

    src, dst = edges if edges is not None else reference_arrays(refs or ())
    # A start's only dominator is the artificial root, whatever else reaches it;
    # and a path through another edge into a start has a sub-path from the
    # root straight to that start, which avoids whatever the path avoids.  So
    # edges into starts change no dominator: leave them out.
    into_start = np.zeros(n, dtype=bool)
    into_start[np.asarray(starts, dtype=np.int64)] = True
    keep = ~into_start[dst]
    g = rx.PyDiGraph()
    g.extend_from_edge_list([(n, s) for s in starts])  # nodes 0 .. n appear with the first edge list
    g.extend_from_edge_list(list(zip(src[keep].tolist(), dst[keep].tolist())))
    dom = rx.immediate_dominators(g, n)
    out = np.full(n + 1, -1, dtype=np.int64)
    out[np.fromiter(dom.keys(), dtype=np.int64, count=len(dom))] = np.fromiter(
        dom.values(), dtype=np.int64, count=len(dom)
    )
    return out[:n]


#: Below this many paths the strategy runs in plain Python: importing numpy
#: and rustworkx would cost more than the work.
_VECTORISE_FROM = 4096


def _dominators_small(n: int, refs: Sequence[Sequence[int]], starts: Sequence[int]) -> list[int]:
    """:func:`immediate_dominators` in plain Python, the iterative algorithm of
    Cooper, Harvey and Kennedy ("A Simple, Fast Dominance Algorithm", 2001).

    The first pass visits every node in reverse post-order; each later pass
    starts at the first node that a back edge enters, since the nodes before it
    have all their predecessors earlier and keep the value of the first pass.

    Example:
        >>> _dominators_small(4, [(1, 2), (3,), (3,), ()], [0])
        [4, 0, 0, 0]
    """
    succ: list[Sequence[int]] = [*refs, sorted(set(starts))]
    # Post-order numbers from one depth-first search of the artificial root n.
    post = [-1] * (n + 1)
    seen = bytearray(n + 1)
    seen[n] = 1
    order: list[int] = []
    stack = [(n, iter(succ[n]))]
    while stack:
        u, kids = stack[-1]
        for v in kids:
            if not seen[v]:
                seen[v] = 1
                if succ[v]:
                    stack.append((v, iter(succ[v])))
                    break
                post[v] = len(order)  # no successors: finished at once
                order.append(v)
        else:
            stack.pop()
            post[u] = len(order)
            order.append(u)
    # The artificial root first among predecessors: once it is met, nothing
    # lies above it, and the rest of a node's predecessors are skipped.
    preds: list[list[int]] = [[] for _ in range(n + 1)]
    for v in succ[n]:
        preds[v].append(n)
    for u in order[:-1]:
        for v in succ[u]:
            preds[v].append(u)
    idom = [-1] * (n + 1)
    idom[n] = n
    rpo = order[::-1][1:]
    first = len(rpo)  # the first position a back edge enters (its source comes later in reverse post-order)
    todo = rpo
    while True:
        changed = False
        for i, v in enumerate(todo):
            new = -1
            for p in preds[v]:
                if idom[p] == -1:  # not reached yet in the first pass: a back edge
                    if i < first:
                        first = i
                    continue
                if new == -1:
                    new = p
                else:
                    a, b = p, new
                    while a != b:
                        while post[a] < post[b]:
                            a = idom[a]
                        while post[b] < post[a]:
                            b = idom[b]
                    new = a
                if new == n:  # the root dominates every node, and v will keep it
                    break
            if idom[v] != new:
                idom[v] = new
                changed = True
        if not changed or first == len(rpo):
            break
        todo = rpo[first:]
    return idom[:n]


def edge_list(refs: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """All ``(i, j)`` reference pairs, built with numpy (fast for large graphs).

    Example:
        >>> edge_list([(1, 2), (2,), ()])
        [(0, 1), (0, 2), (1, 2)]
    """
    src, dst = reference_arrays(refs)
    return list(zip(src.tolist(), dst.tolist()))


@dataclass(frozen=True)
class DominatorSplit:
    """The initial layers of Nixery's algorithm, before any merge.

    Attributes:
        heads: the children of the artificial root, one per initial layer.
        owner: for every path, the head of its layer (``-1``: unreachable).
        idom: the immediate dominator of every path (``n``: the artificial root).
        flagged: the big-or-popular paths.
    """

    heads: tuple[int, ...]
    owner: tuple[int, ...]
    idom: tuple[int, ...]
    flagged: frozenset[int]


def dominator_split(graph: ClosureGraph, flagged: Sequence[int]) -> DominatorSplit:
    """Steps 1-3: the dominator tree with ``flagged`` paths hung from the root.

    Example:
        >>> g = ClosureGraph.from_records([
        ...     {"path": "/s/a-a", "references": ["/s/c-c"]}, {"path": "/s/b-b", "references": ["/s/c-c"]},
        ...     {"path": "/s/c-c", "references": []}], ["/s/a-a", "/s/b-b"])
        >>> dominator_split(g, []).heads
        (0, 1, 2)
    """
    n = len(graph.paths)
    starts = sorted(set(graph.roots) | set(flagged))
    if n >= _VECTORISE_FROM:
        return _dominator_split_large(graph, starts, flagged)
    idom = immediate_dominators(n, graph.refs, starts)
    owner = [-1] * n
    heads = []
    for i in range(n):
        d = idom[i]
        if d == -1:
            continue
        if d == n:
            owner[i] = i
            heads.append(i)
            continue
        # Walk up to the head, then compress the path.
        chain = [i]
        while owner[d] == -1 and idom[d] != n:
            chain.append(d)
            d = idom[d]
        head = owner[d] if owner[d] != -1 else d
        for c in chain:
            owner[c] = head
    return DominatorSplit(tuple(heads), tuple(owner), tuple(idom), frozenset(flagged))


def _dominator_split_large(graph: ClosureGraph, starts: list[int], flagged: Sequence[int]) -> DominatorSplit:
    """:func:`dominator_split` in numpy: each path's head found by pointer jumping up the dominator tree."""
    import numpy as np

    n = len(graph.paths)
    idom = _dominators_large(n, None, starts, graph.edge_arrays)
    up = np.append(idom, n)
    nodes = np.arange(n + 1, dtype=np.int64)
    ends = (up == n) | (up < 0)  # heads, unreachable paths and the artificial root point to themselves
    up[ends] = nodes[ends]
    while True:  # doubling: after k rounds every path points 2**k steps up, or to its head
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    owner = np.where(idom < 0, -1, up[:n])
    heads = np.flatnonzero(idom == n)
    split = DominatorSplit(tuple(heads.tolist()), tuple(owner.tolist()), tuple(idom.tolist()), frozenset(flagged))
    split.__dict__["_owner_array"] = owner  # the same owners, for rate_split and merge_split
    return split


SizeMeasure = Literal["closure", "nar"]
MergeMode = Literal["seed", "resort"]
LayerOrder = Literal["printed", "rating"]


@dataclass(frozen=True, eq=False)
class Nixery(Strategy):
    """Nixery's big-or-popular + dominator-tree grouping (see the module documentation)."""

    name = "nixery"
    summary = "Nixery (2019): big or popular paths and dominator subtrees, lowest-rated merged"
    uses_popularity = True
    size_threshold: int = param(
        "bytes", 100_000_000, "a path is big when its size exceeds this", minimum=0, maximum=10**13, log=True
    )
    size_measure: SizeMeasure = param(
        "choice", "closure", "size used for the threshold and rating", choices=get_args(SizeMeasure)
    )
    popularity_threshold: int = param(
        "int", 1000, "a path is popular at this count or more", minimum=0, maximum=10**9, log=True
    )
    popularity_percentile: float | None = param(
        "float",
        None,
        "if set, the popularity threshold is this percentile of the table",
        minimum=0,
        maximum=100,
        optional=True,
    )
    popularity_by_name: bool = param("bool", False, "fall back to the name without version in the popularity table")
    forced_popularity: dict[str, int] = param(
        "dict", {}, "glob -> popularity forced (nixery-2022: nss-cacert*, iana-etc*)"
    )
    merge_mode: MergeMode = param(
        "choice", "seed", "seed: one sorted sweep; resort: re-sort after each merge", choices=get_args(MergeMode)
    )
    layer_order: LayerOrder = param(
        "choice",
        "printed",
        "printed: as the 2019 program (ascending rating, catch-all first); rating: highest rating first (later Nixery)",
        choices=get_args(LayerOrder),
    )
    presets = MappingProxyType(
        {
            "nixery-2022": MappingProxyType(
                {"popularity_threshold": 100, "forced_popularity": dict(NIXERY_2022_FORCED), "layer_order": "rating"}
            )
        }
    )

    def popularity_table(self, context: Context) -> Popularity:
        """The context's popularity with this configuration's look-up options applied.

        Example:
            >>> from layerlab.popularity import Popularity
            >>> table = Nixery(forced_popularity={"iana-etc*": 5}).popularity_table(Context(Popularity({"a-1": 2})))
            >>> table.of_name("a-1"), table.of_name("iana-etc-1")
            (2, 5)
        """
        pop = context.popularity or Popularity({})
        if self.popularity_by_name or self.forced_popularity:
            pop = pop.with_options(by_name=self.popularity_by_name, forced={**pop.forced, **self.forced_popularity})
        return pop

    def threshold(self, pop: Popularity) -> int:
        """The effective popularity threshold.

        Example:
            >>> from layerlab.popularity import Popularity
            >>> pop = Popularity({str(i): i for i in range(1, 101)})
            >>> Nixery().threshold(pop), Nixery(popularity_percentile=90).threshold(pop)
            (1000, 91)
        """
        if self.popularity_percentile is not None:
            return pop.threshold_at_percentile(self.popularity_percentile)
        return self.popularity_threshold

    def sizes(self, graph: ClosureGraph) -> tuple[int, ...]:
        """The size measure for each path.

        Example:
            >>> g = ClosureGraph.from_records(
            ...     [{"path": "/s/a", "narSize": 2, "references": ["/s/b"]}, {"path": "/s/b", "narSize": 3}]
            ... )
            >>> Nixery().sizes(g), Nixery(size_measure="nar").sizes(g)
            ((5, 3), (2, 3))
        """
        if self.size_measure == "nar":
            return graph.require_nar_size("nixery with size_measure=nar")
        return graph.require_closure_size("nixery")

    def flagged(self, graph: ClosureGraph, sizes: Sequence[int], pops: Sequence[int], threshold: int) -> list[int]:
        """Indices of the big-or-popular paths.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/s/a", "closureSize": 50}, {"path": "/s/b", "closureSize": 5}])
            >>> Nixery(size_threshold=10).flagged(g, [50, 5], [1, 1000], 1000)
            [0, 1]
        """
        if len(sizes) >= _VECTORISE_FROM:
            import numpy as np

            try:
                size = np.fromiter(sizes, dtype=np.int64, count=len(sizes))
                pop = np.fromiter(pops, dtype=np.int64, count=len(pops))
            except OverflowError:
                pass
            else:
                return np.flatnonzero((size > self.size_threshold) | (pop >= threshold)).tolist()
        big = map(self.size_threshold.__lt__, sizes)
        return list(itertools.compress(range(len(sizes)), map(operator.or_, big, map(threshold.__le__, pops))))

    def analyse(self, graph: ClosureGraph, context: Context) -> NixeryAnalysis:
        """Steps 1-3 with everything that explains them: sizes, popularity,
        the threshold in force, the flagged paths and the dominator split.

        Example:
            >>> from layerlab.graph import ClosureGraph
            >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "closureSize": 5}])
            >>> a = Nixery(size_threshold=1).analyse(g, Context())
            >>> a.flagged, a.split.heads, a.big, a.popular
            ((0,), (0,), (0,), ())
        """
        pop = self.popularity_table(context)
        pops = pop.for_graph(graph)
        sizes = self.sizes(graph)
        threshold = self.threshold(pop)
        flagged = tuple(self.flagged(graph, sizes, pops, threshold))
        return NixeryAnalysis(sizes, pops, threshold, self.size_threshold, flagged, dominator_split(graph, flagged))

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        a = self.analyse(graph, context)
        return merge_split(
            graph, a.split, a.sizes, a.pops, budget, self.merge_mode, a.size_threshold, a.threshold, self.layer_order
        )

    def _group_batch(
        self, graph: ClosureGraph, context: Context, budgets: list[int], memo: BoundedCache[Any, Any]
    ) -> LayerBatch:
        """Steps 1-4 once per set of flagged paths, step 5 (:func:`merge_groups`) per budget.

        The dominator split depends only on the flagged paths, so every
        configuration flagging the same paths (most of a threshold grid) and
        every budget share it; ``memo`` keeps the popularity look-ups, the
        flagged sets and the rated initial layers between calls.
        """
        forced = orjson.dumps(self.forced_popularity, option=orjson.OPT_SORT_KEYS)
        pop_key = ("nixery popularity", self.popularity_by_name, forced)

        def look_up() -> tuple[Popularity, tuple[int, ...]]:
            table = self.popularity_table(context)
            return table, tuple(table.for_graph(graph))

        pop, pops = memo.compute(pop_key, look_up)
        threshold = memo.compute(
            ("nixery threshold", pop_key, self.popularity_percentile, self.popularity_threshold),
            lambda: self.threshold(pop),
        )
        sizes = memo.compute(("nixery sizes", self.size_measure), lambda: self.sizes(graph))
        flagged = memo.compute(
            ("nixery flagged", pop_key, self.size_measure, self.size_threshold, threshold),
            lambda: tuple(self.flagged(graph, sizes, pops, threshold)),
        )
        key = ("nixery initial layers", pop_key, self.size_measure, flagged)

        def initial_layers() -> tuple[RatedSplit, tuple[tuple[int, ...], ...]]:
            split = dominator_split(graph, flagged)
            rated = rate_split(graph, split, sizes, pops)
            members: list[list[int]] = [[] for _ in range(len(split.heads) + rated.has_unreachable)]
            group_of = {h: g for g, h in enumerate(split.heads)}
            unreachable = len(split.heads)
            for i, h in enumerate(split.owner):  # index order: every group's paths come out sorted
                members[unreachable if h < 0 else group_of[h]].append(i)
            return rated, tuple(tuple(members[g]) for g in rated.order)

        rated, groups = memo.compute(key, initial_layers)

        def layering(budget: int) -> list[tuple[int, ...]]:
            merged = merge_groups(rated.ratings, budget, self.merge_mode)
            if self.layer_order == "rating":  # the order merge_split gives: a stable sort, highest rating first
                merged = sorted(merged, key=lambda t: -t[0])
            return [positions for _, positions in merged]

        return LayerBatch(groups, [layering(b) for b in budgets], key)


@dataclass(frozen=True)
class NixeryAnalysis:
    """What Nixery's grouping saw in one graph, before merging.

    Attributes:
        sizes: the size measure of every path.
        pops: the popularity of every path.
        threshold: the popularity threshold in force.
        size_threshold: the size threshold in force.
        flagged: the big-or-popular paths.
        split: the dominator split.
    """

    sizes: Sequence[int]
    pops: Sequence[int]
    threshold: int
    size_threshold: int
    flagged: tuple[int, ...]
    split: DominatorSplit

    @property
    def big(self) -> tuple[int, ...]:
        """The flagged paths whose size exceeds the size threshold."""
        return tuple(i for i in self.flagged if self.sizes[i] > self.size_threshold)

    @property
    def popular(self) -> tuple[int, ...]:
        """The flagged paths whose popularity reaches the threshold."""
        return tuple(i for i in self.flagged if self.pops[i] >= self.threshold)


@dataclass(frozen=True)
class RatedSplit:
    """Step 4: the initial layers of a dominator split, rated, in merge order.

    Group ``g < len(heads)`` is the layer of ``heads[g]``; group
    ``len(heads)`` (when ``has_unreachable``) holds the paths no root reaches,
    with rating 0.  ``order`` lists the groups by ascending rating, ties by
    head path (the unreachable group first); ``ratings[pos]`` is the rating of
    ``order[pos]``.

    Example:
        >>> g = ClosureGraph.from_records([
        ...     {"path": "/s/a-a", "closureSize": 3, "references": ["/s/c-c"]},
        ...     {"path": "/s/b-b", "closureSize": 2, "references": ["/s/c-c"]},
        ...     {"path": "/s/c-c", "closureSize": 1}], ["/s/a-a", "/s/b-b"])
        >>> r = rate_split(g, dominator_split(g, []), g.closure_size, [1, 1, 1])
        >>> r.order, r.ratings
        ((2, 1, 0), (1, 2, 3))
    """

    heads: tuple[int, ...]
    order: tuple[int, ...]
    ratings: tuple[int, ...]
    has_unreachable: bool


def _owner_array(split: DominatorSplit) -> Any:
    """``split.owner`` as a numpy array (kept from :func:`dominator_split` on large graphs)."""
    import numpy as np

    found = split.__dict__.get("_owner_array")
    return np.fromiter(split.owner, dtype=np.int64, count=len(split.owner)) if found is None else found


def rate_split(graph: ClosureGraph, split: DominatorSplit, sizes: Sequence[int], pops: Sequence[int]) -> RatedSplit:
    """Step 4: a layer's rating is the popularity of its head times the sum of its paths' sizes.

    Ratings are exact Python integers.  Because paths are sorted, ordering
    heads by index is ordering them by path, which is the documented
    tie-break; a stable sort on the rating alone therefore implements it.
    Issues an :class:`UnreachablePathsWarning` when some path is reachable
    from no root.  (Example: :class:`RatedSplit`.)

    Example:
        >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "closureSize": 4}, {"path": "/s/b-b", "closureSize": 1}])
        >>> rate_split(g, dominator_split(g, []), [4, 1], [1, 10]).ratings
        (4, 10)
    """
    n = len(graph.paths)
    heads = split.heads
    if n < _VECTORISE_FROM:
        weights = [0] * n
        for i, o in enumerate(split.owner):
            if o >= 0:
                weights[o] += sizes[i]
        head_weights = [weights[h] for h in heads]
        count = split.owner.count(-1)
    else:
        import numpy as np

        owner = _owner_array(split)
        reach = owner >= 0
        weight = np.zeros(n, dtype=np.int64)
        np.add.at(weight, owner[reach], np.fromiter(sizes, dtype=np.int64, count=n)[reach])
        head_weights = weight[list(heads)].tolist()
        count = int(n - reach.sum())
    ratings = list(map(operator.mul, map(int, map(pops.__getitem__, heads)), head_weights))
    has_unreachable = count > 0
    if has_unreachable:
        warnings.warn(
            f"{graph.source or graph.name}: {count} paths are reachable from no root; "
            "they are kept in a layer of their own",
            UnreachablePathsWarning,
            stacklevel=4,
        )
    order = _ascending(ratings)
    if has_unreachable:
        order.insert(0, len(heads))
    all_ratings = ratings + [0] * has_unreachable
    return RatedSplit(tuple(heads), tuple(order), tuple(map(all_ratings.__getitem__, order)), has_unreachable)


def _ascending(values: list[int]) -> list[int]:
    """Positions of ``values`` by ascending value, ties in position order (a stable sort).

    Example:
        >>> _ascending([3, 1, 3, 2])
        [1, 3, 0, 2]
    """
    if len(values) >= _VECTORISE_FROM:
        import numpy as np

        try:
            array = np.array(values, dtype=np.int64)
        except OverflowError:
            pass
        else:
            return np.argsort(array, kind="stable").tolist()
    return sorted(range(len(values)), key=values.__getitem__)


def merge_groups(ratings: Sequence[int], budget: int, merge_mode: str) -> list[tuple[int, tuple[int, ...]]]:
    """Step 5: merge rated groups into at most ``budget`` layers.

    ``ratings`` are the groups' ratings in merge order (:attr:`RatedSplit.ratings`).
    Returns the output layers in output order, each as ``(rating, positions)``
    with ``positions`` indices into that order.  ``seed`` (Nixery) merges the
    first ``len - budget + 1`` groups into one layer in front, in one step, as
    Nixery's repeated merge of the first two without re-sorting comes to;
    ``resort`` repeatedly merges the two lowest-rated groups (ties: the
    earlier group) and lists the result by ascending rating.

    This is the one implementation of Nixery's merge: :func:`merge_split` and
    the batch hook :meth:`Nixery.group_batch` (used by sweeps) both run it.
    Transcribed from Nixery's ``tools/nixery/build-image/group-layers.go``
    (commit ``6d718bf2713a7e2209197247976390b878f51313``, 2019-08-13).

    Example:
        >>> merge_groups([1, 2, 3, 4], 2, "seed")
        [(6, (0, 1, 2)), (4, (3,))]
        >>> merge_groups([1, 2, 3, 4], 3, "resort")
        [(3, (0, 1)), (3, (2,)), (4, (3,))]
    """
    count = len(ratings)
    if count <= budget:
        return [(ratings[pos], (pos,)) for pos in range(count)]
    if merge_mode == "seed":
        k = count - budget + 1
        return [(sum(ratings[:k]), tuple(range(k))), *((ratings[pos], (pos,)) for pos in range(k, count))]
    # Huffman-like: key (rating, smallest member position), so ties go to the earlier group.
    heap: list[tuple[int, int, list[int]]] = [(r, pos, [pos]) for pos, r in enumerate(ratings)]
    heapq.heapify(heap)
    while len(heap) > budget:
        ra, pa, ma = heapq.heappop(heap)
        rb, pb, mb = heapq.heappop(heap)
        heapq.heappush(heap, (ra + rb, min(pa, pb), ma + mb))
    return [(rating, tuple(members)) for rating, _, members in sorted(heap)]


def merge_split(
    graph: ClosureGraph,
    split: DominatorSplit,
    sizes: Sequence[int],
    pops: Sequence[int],
    budget: int,
    merge_mode: str,
    size_threshold: int,
    popularity_threshold: int,
    layer_order: str = "printed",
) -> list[Layer]:
    """Steps 4-5 as layers: :func:`rate_split`, then :func:`merge_groups`.

    ``layer_order="rating"`` then puts the layers in descending rating order
    (a stable sort of the printed order).

    Example:
        >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "closureSize": 1}, {"path": "/s/b-b", "closureSize": 1}])
        >>> layers = merge_split(g, dominator_split(g, []), [1, 1], [1, 5], 1, "seed", 10, 5)
        >>> [(layer.paths, layer.rating, layer.reason) for layer in layers]
        [(('/s/a-a', '/s/b-b'), 6, 'merged')]
    """
    n = len(graph.paths)
    rated = rate_split(graph, split, sizes, pops)
    heads = rated.heads

    def meta(g: int, rating: int) -> tuple[int, str, int | None]:
        if g == len(heads):
            return (0, "unreachable", None)
        h = heads[g]
        big = sizes[h] > size_threshold
        popular = pops[h] >= popularity_threshold
        reason = "big+popular" if big and popular else "big" if big else "popular" if popular else "dominator"
        return (rating, reason, h)

    # final[g] = output position of initial group g; out_meta lists (rating, reason, root) per output layer.
    final = [0] * len(rated.order)
    out_meta: list[tuple[int, str, int | None]] = []
    for out_pos, (rating, positions) in enumerate(merge_groups(rated.ratings, budget, merge_mode)):
        for pos in positions:
            final[rated.order[pos]] = out_pos
        out_meta.append(meta(rated.order[positions[0]], rating) if len(positions) == 1 else (rating, "merged", None))

    # Map every path to its output layer and bucket in index order (paths stay sorted).
    members: list[list[int]]
    if n < _VECTORISE_FROM:
        group_of = [-1] * (n + 1)
        for h, f in zip(heads, final):
            group_of[h] = f
        if rated.has_unreachable:
            group_of[n] = final[len(heads)]
        members = [[] for _ in out_meta]
        for i, o in enumerate(split.owner):
            members[group_of[o if o >= 0 else n]].append(i)
    else:
        import numpy as np

        owner = _owner_array(split)
        reach = owner >= 0
        head_group = np.full(n + 1, -1, dtype=np.int64)
        head_group[list(heads)] = final[: len(heads)]
        if rated.has_unreachable:
            head_group[n] = final[len(heads)]
        layer_of = head_group[np.where(reach, owner, n)]
        by_layer = np.argsort(layer_of, kind="stable")
        bounds = np.searchsorted(layer_of[by_layer], np.arange(len(out_meta) + 1)).tolist()
        members = [by_layer[a:b].tolist() for a, b in zip(bounds, bounds[1:])]
    paths = graph.paths
    nar = graph.nar_size
    out = []
    for pos, (rating, reason, root) in enumerate(out_meta):
        idx = members[pos]
        out.append(
            Layer(
                paths=tuple(map(paths.__getitem__, idx)),
                size=None if nar is None else sum(map(nar.__getitem__, idx)),
                rating=rating,
                reason=reason,
                root=None if root is None else paths[root],
            )
        )
    if layer_order == "rating":
        out.sort(key=lambda layer: -layer.rating)
    return out
