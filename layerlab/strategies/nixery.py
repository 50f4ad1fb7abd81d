"""Nixery's grouping: big-or-popular paths and the dominator tree.

The algorithm of Nixery's 2019 ``group-layers`` program, with every constant
a parameter:

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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import rustworkx as rx

from ..graph import ClosureGraph
from ..popularity import NIXERY_2022_FORCED, Popularity
from .base import Context, Layer, Param, Strategy

__all__ = ["Nixery", "NixeryAnalysis", "UnreachablePathsWarning", "DominatorSplit", "dominator_split", "immediate_dominators"]


class UnreachablePathsWarning(UserWarning):
    """Some paths of a graph are reachable from no root; they were kept in a layer of their own."""


def immediate_dominators(n: int, refs: Sequence[Sequence[int]], starts: Sequence[int]) -> list[int]:
    """Immediate dominators of a graph of ``n`` nodes seen from an artificial root.

    The artificial root is node ``n``, with an edge to every node of ``starts``.
    Returns a list of length ``n``: the immediate dominator of each node
    (``n`` for the children of the artificial root, ``-1`` for unreachable
    nodes).  Computed with rustworkx's compiled Cooper-Harvey-Kennedy
    implementation.

    Example:
        >>> immediate_dominators(3, [(1, 2), (2,), ()], [0])
        [3, 0, 0]
    """
    g = rx.PyDiGraph()
    g.add_nodes_from(range(n + 1))
    g.extend_from_edge_list(edge_list(refs))
    g.extend_from_edge_list([(n, s) for s in starts])
    dom = rx.immediate_dominators(g, n)
    out = [-1] * n
    for node, d in dom.items():
        if node != n:
            out[node] = d
    return out


def edge_list(refs: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """All ``(i, j)`` reference pairs, built with numpy (fast for large graphs)."""
    lengths = np.fromiter(map(len, refs), dtype=np.int64, count=len(refs))
    src = np.repeat(np.arange(len(refs), dtype=np.int64), lengths).tolist()
    dst = list(itertools.chain.from_iterable(refs))
    return list(zip(src, dst))


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


class Nixery(Strategy):
    """Nixery's big-or-popular + dominator-tree grouping (see the module documentation)."""

    name = "nixery"
    summary = "Nixery (2019): big or popular paths and dominator subtrees, lowest-rated merged"
    uses_popularity = True
    params = (
        Param("size_threshold", "bytes", 100_000_000, "a path is big when its size exceeds this", minimum=0, maximum=10**13, log=True),
        Param("size_measure", "choice", "closure", "size used for the threshold and rating", choices=("closure", "nar")),
        Param("popularity_threshold", "int", 1000, "a path is popular at this count or more", minimum=0, maximum=10**9, log=True),
        Param(
            "popularity_percentile",
            "float",
            None,
            "if set, the popularity threshold is this percentile of the table",
            minimum=0,
            maximum=100,
            optional=True,
        ),
        Param("popularity_by_name", "bool", False, "fall back to the name without version in the popularity table"),
        Param("forced_popularity", "dict", {}, "glob -> popularity forced (nixery-2022: nss-cacert*, iana-etc*)"),
        Param("merge_mode", "choice", "seed", "seed: one sorted sweep; resort: re-sort after each merge", choices=("seed", "resort")),
        Param(
            "layer_order",
            "choice",
            "printed",
            "printed: as the 2019 program (ascending rating, catch-all first); rating: highest rating first (later Nixery)",
            choices=("printed", "rating"),
        ),
    )
    presets = MappingProxyType(
        {
            "nixery-2022": MappingProxyType(
                {"popularity_threshold": 100, "forced_popularity": dict(NIXERY_2022_FORCED), "layer_order": "rating"}
            )
        }
    )

    def popularity_table(self, context: Context) -> Popularity:
        """The context's popularity with this configuration's look-up options applied."""
        pop = context.popularity or Popularity({})
        if self.popularity_by_name or self.forced_popularity:
            pop = pop.with_options(by_name=self.popularity_by_name, forced={**pop.forced, **self.forced_popularity})
        return pop

    def threshold(self, pop: Popularity) -> int:
        """The effective popularity threshold."""
        if self.popularity_percentile is not None:
            return pop.threshold_at_percentile(self.popularity_percentile)
        return self.popularity_threshold

    def sizes(self, graph: ClosureGraph) -> tuple[int, ...]:
        """The size measure for each path."""
        if self.size_measure == "nar":
            return graph.require_nar_size("nixery with size_measure=nar")
        return graph.require_closure_size("nixery")

    def flagged(self, graph: ClosureGraph, sizes: Sequence[int], pops: Sequence[int], threshold: int) -> list[int]:
        """Indices of the big-or-popular paths."""
        limit = self.size_threshold
        return [i for i in range(len(sizes)) if sizes[i] > limit or pops[i] >= threshold]

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
    """Steps 4-5: rate the initial layers and merge the lowest-rated into the budget.

    ``layer_order="rating"`` then puts the layers in descending rating order
    (a stable sort of the printed order).

    Ratings are exact Python integers.  Because paths are sorted, ordering
    heads by index is ordering them by path, which is the documented
    tie-break; a stable sort on the rating alone therefore implements it.
    """
    n = len(graph.paths)
    owner = np.fromiter(split.owner, dtype=np.int64, count=n)
    reach = owner >= 0
    weight = np.zeros(n, dtype=np.int64)
    np.add.at(weight, owner[reach], np.fromiter(sizes, dtype=np.int64, count=n)[reach])
    heads = list(split.heads)
    head_weight = weight[heads].tolist()
    ratings = [int(pops[h]) * w for h, w in zip(heads, head_weight)]
    has_unreachable = not bool(reach.all())
    if has_unreachable:
        count = int(n - reach.sum())
        warnings.warn(
            f"{graph.source or graph.name}: {count} paths are reachable from no root; they are kept in a layer of their own",
            UnreachablePathsWarning,
            stacklevel=4,
        )
    # Initial groups: one per head (g < len(heads)), then the unreachable one.
    # The unreachable group has rating 0 and sorts before every head (tie-break "").
    g_count = len(heads) + has_unreachable
    g_rating = ratings + [0] * has_unreachable
    order = sorted(range(len(heads)), key=ratings.__getitem__)
    if has_unreachable:
        order.insert(0, len(heads))
    # final[i] = output position of initial group i; out_groups lists (rating, reason, root) per output layer
    final = [0] * g_count
    out_meta: list[tuple[int, str, int | None]] = []

    def meta(g: int) -> tuple[int, str, int | None]:
        if g == len(heads):
            return (0, "unreachable", None)
        h = heads[g]
        big = sizes[h] > size_threshold
        popular = pops[h] >= popularity_threshold
        reason = "big+popular" if big and popular else "big" if big else "popular" if popular else "dominator"
        return (ratings[g], reason, h)

    if len(order) <= budget:
        for pos, g in enumerate(order):
            final[g] = pos
            out_meta.append(meta(g))
    elif merge_mode == "seed":
        k = len(order) - budget + 1
        out_meta.append((sum(g_rating[g] for g in order[:k]), "merged", None))
        for g in order[:k]:
            final[g] = 0
        for pos, g in enumerate(order[k:], start=1):
            final[g] = pos
            out_meta.append(meta(g))
    else:
        # Huffman-like: repeatedly merge the two lowest-rated groups.  Key:
        # (rating, smallest member position in the initial order).
        heap = [(g_rating[g], pos, [g]) for pos, g in enumerate(order)]
        heapq.heapify(heap)
        while len(heap) > budget:
            ra, pa, ma = heapq.heappop(heap)
            rb, pb, mb = heapq.heappop(heap)
            heapq.heappush(heap, (ra + rb, min(pa, pb), ma + mb))
        for pos, (rating, _, members) in enumerate(sorted(heap)):
            for g in members:
                final[g] = pos
            out_meta.append(meta(members[0]) if len(members) == 1 else (rating, "merged", None))

    # Map every path to its output layer and bucket in index order (paths stay sorted).
    head_group = np.full(n + 1, -1, dtype=np.int64)
    head_group[heads] = final[: len(heads)]
    if has_unreachable:
        head_group[n] = final[len(heads)]
    layer_of = head_group[np.where(reach, owner, n)]
    by_layer = np.argsort(layer_of, kind="stable")
    bounds = np.searchsorted(layer_of[by_layer], np.arange(len(out_meta) + 1))
    paths = graph.paths
    nar = graph.nar_size
    out = []
    for pos, (rating, reason, root) in enumerate(out_meta):
        idx = by_layer[bounds[pos] : bounds[pos + 1]].tolist()
        out.append(
            Layer(
                paths=tuple([paths[i] for i in idx]),
                size=None if nar is None else sum([nar[i] for i in idx]),
                rating=rating,
                reason=reason,
                root=None if root is None else paths[root],
            )
        )
    if layer_order == "rating":
        out.sort(key=lambda layer: -layer.rating)
    return out
