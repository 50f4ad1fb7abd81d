"""Why a path landed in its layer: look a package up and explain the grouping that placed it.

For one image and one configuration (strategy, context, budget),
:func:`grouping_facts` works out once what explaining needs: the layers, the
tree the strategy splits (for Nixery-family strategies the dominator tree with
big and popular paths hung from an artificial root; for any other strategy the
plain dominator tree from the image roots), the bytes each path keeps alive
alone (its dominated subtree), and for Nixery the rating of every initial
layer.  :func:`explain_path` then answers, for one path:

* the layer that holds it, that layer's reason, size and first path;
* the chain of references from an image root down to it: a shortest one, found
  breadth-first from the roots in path order, as ``nix why-depends`` prints
  one chain that keeps a path in a closure;
* its immediate dominator (the path every chain from the roots passes through
  last; Lengauer and Tarjan, "A fast algorithm for finding dominators in a
  flowgraph", TOPLAS 1979, as computed by :func:`~layerlab.strategies.nixery.immediate_dominators`);
* for Nixery: whether it was big (its size against ``size_threshold``) and
  popular (its popularity against the threshold in force), by how much, the
  head of its initial layer and that layer's rating; when its layer was merged,
  the rating that lost, the lowest rating that kept a layer of its own and the
  budget that forced the merge.

:func:`find_paths` turns a package name or a fragment of a path into path
indices, best match first, and :func:`explain` does both.

Example:
    >>> from layerlab.imageset import bundled_imagesets
    >>> from layerlab.strategies import Context, get_strategy
    >>> s = bundled_imagesets()["kde-full"]()
    >>> e = explain(s.graphs[0], get_strategy("nixery-2022"), Context(s.popularity), 30, "libllvm15")[0]
    >>> e.name.startswith("libllvm15"), e.layer_reason, e.big, e.merged, e.chain[-1] == e.path
    (True, 'merged', True, True, True)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..graph import ClosureGraph, parse_name
from ..strategies.base import Context, Layer, Strategy

__all__ = ["GroupingFacts", "PathExplanation", "grouping_facts", "find_paths", "why_chain", "explain_path", "explain"]


@dataclass(frozen=True, eq=False)
class GroupingFacts:
    """One image grouped by one configuration, with what explaining it needs.

    Attributes:
        graph: the image's closure graph.
        strategy: the configured strategy.
        budget: the layer budget.
        layers: the strategy's layers, in manifest order.
        layer_of: for each path, the position of its layer.
        idom: immediate dominator of each path (``len(graph)``: the artificial
            root; ``-1``: no root reaches the path).
        kept_alive: bytes (``narSize``) of each path's dominated subtree.
        sizes: Nixery's size measure per path (empty for other strategies).
        pops: popularity per path (empty for other strategies).
        size_threshold: Nixery's size threshold (``None`` otherwise).
        popularity_threshold: the popularity threshold in force (``None`` otherwise).
        head: for each path, the head of its initial layer (Nixery; ``-1`` otherwise).
        rating: initial-layer rating by head (Nixery).
        initial_layers: number of initial layers before merging (Nixery).
    """

    graph: ClosureGraph
    strategy: Strategy
    budget: int
    layers: tuple[Layer, ...]
    layer_of: tuple[int, ...]
    idom: tuple[int, ...]
    kept_alive: tuple[int, ...]
    sizes: tuple[int, ...] = ()
    pops: tuple[int, ...] = ()
    size_threshold: int | None = None
    popularity_threshold: int | None = None
    head: tuple[int, ...] = ()
    rating: dict[int, int] | None = None
    initial_layers: int | None = None

    @property
    def big(self) -> tuple[int, ...]:
        """Paths over the size threshold (Nixery only)."""
        if self.size_threshold is None:
            return ()
        return tuple(i for i, s in enumerate(self.sizes) if s > self.size_threshold)

    @property
    def popular(self) -> tuple[int, ...]:
        """Paths at or over the popularity threshold (Nixery only)."""
        if self.popularity_threshold is None:
            return ()
        return tuple(i for i, p in enumerate(self.pops) if p >= self.popularity_threshold)


def _subtree_bytes(idom: Sequence[int], nar: Sequence[int]) -> tuple[int, ...]:
    """Bytes of each path's dominated subtree: its own size added to each of its dominators'."""
    n = len(idom)
    sub = [int(x) for x in nar]
    for i in range(n):
        v = idom[i]
        size = nar[i]
        while 0 <= v < n:
            sub[v] += size
            v = idom[v]
    return tuple(sub)


def grouping_facts(
    graph: ClosureGraph,
    strategy: Strategy,
    context: Context | None = None,
    budget: int = 30,
    layers: Sequence[Layer] | None = None,
) -> GroupingFacts:
    """Group ``graph`` (unless ``layers`` are given) and work out the facts :func:`explain_path` reads.

    Example:
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([
        ...     {"path": "/s/a-app-1", "narSize": 5, "references": ["/s/c-lib-1"]},
        ...     {"path": "/s/c-lib-1", "narSize": 7}], ["/s/a-app-1"])
        >>> f = grouping_facts(g, get_strategy("nixery", size_threshold=6, size_measure="nar"), budget=5)
        >>> f.layer_of, f.idom, f.kept_alive, f.big
        ((0, 1), (2, 2), (5, 7), (1,))
    """
    from ..strategies.nixery import Nixery, immediate_dominators, merge_split

    context = context if context is not None else Context()
    nixery = strategy if isinstance(strategy, Nixery) else None
    analysis = nixery.analyse(graph, context) if nixery is not None else None
    if layers is None:
        if nixery is not None and analysis is not None and type(nixery)._group is Nixery._group:
            # The same steps as Nixery.group, reusing the analysis instead of running it twice.
            a = analysis
            layers = merge_split(
                graph, a.split, a.sizes, a.pops, budget, nixery.merge_mode, a.size_threshold, a.threshold
            )
        else:
            layers = strategy.group(graph, context, budget)
    layers = tuple(layers)
    index = graph.index
    layer_of = [-1] * len(graph)
    for pos, layer in enumerate(layers):
        for p in layer.paths:
            layer_of[index[p]] = pos
    nar = graph.nar_size or tuple(0 for _ in graph.paths)
    if analysis is not None:
        a = analysis
        idom = tuple(a.split.idom)
        owner = a.split.owner
        weight: dict[int, int] = {}
        for i, h in enumerate(owner):
            if h >= 0:
                weight[h] = weight.get(h, 0) + int(a.sizes[i])
        rating = {h: int(a.pops[h]) * weight.get(h, 0) for h in a.split.heads}
        unreachable = any(h < 0 for h in owner)
        return GroupingFacts(
            graph,
            strategy,
            budget,
            layers,
            tuple(layer_of),
            idom,
            _subtree_bytes(idom, nar),
            tuple(int(s) for s in a.sizes),
            tuple(int(p) for p in a.pops),
            int(a.size_threshold),
            int(a.threshold),
            tuple(owner),
            rating,
            len(a.split.heads) + unreachable,
        )
    idom = tuple(immediate_dominators(len(graph), graph.refs, graph.roots))
    return GroupingFacts(graph, strategy, budget, layers, tuple(layer_of), idom, _subtree_bytes(idom, nar))


def find_paths(graph: ClosureGraph, query: str, limit: int = 20) -> list[int]:
    """Indices of the paths matching a package name or a path fragment, best match first.

    Matching ignores case.  Ranked: the name equals the query (``hello-2.12``),
    the name without version equals it (``hello``), the name starts with it,
    then any path containing it; within a rank, larger closures first.

    Raises:
        ConfigError: an empty query.

    Example:
        >>> g = ClosureGraph.from_records([{"path": "/s/a-libfoo-2"}, {"path": "/s/b-foo-1"}])
        >>> [g.names[i] for i in find_paths(g, "foo")]
        ['foo-1', 'libfoo-2']
    """
    q = query.strip().lower()
    if not q:
        raise ConfigError("type a package name or part of a store path", source="search")
    sizes = graph.closure_size or graph.nar_size or tuple(0 for _ in graph.paths)
    ranked = []
    for i, (path, name) in enumerate(zip(graph.paths, graph.names)):
        lname = name.lower()
        if lname == q:
            rank = 0
        elif parse_name(lname)[0] == q:
            rank = 1
        elif lname.startswith(q):
            rank = 2
        elif q in path.lower():
            rank = 3
        else:
            continue
        ranked.append((rank, -sizes[i], i))
    ranked.sort()
    return [i for _, _, i in ranked[:limit]]


def why_chain(graph: ClosureGraph, target: int) -> tuple[int, ...]:
    """A shortest chain of references from an image root to ``target`` (root first), as ``nix why-depends``.

    Breadth-first from the roots in path order, so the chain is the same on every run.
    Empty when no root reaches ``target``.

    Example:
        >>> g = ClosureGraph.from_records([
        ...     {"path": "/s/a-a", "references": ["/s/b-b"]}, {"path": "/s/b-b", "references": ["/s/c-c"]},
        ...     {"path": "/s/c-c"}], ["/s/a-a"])
        >>> why_chain(g, 2)
        (0, 1, 2)
    """
    parent = [-2] * len(graph)
    queue: deque[int] = deque()
    for r in graph.roots:
        if parent[r] == -2:
            parent[r] = -1
            queue.append(r)
    while queue:
        v = queue.popleft()
        if v == target:
            out = [v]
            while parent[out[-1]] >= 0:
                out.append(parent[out[-1]])
            return tuple(reversed(out))
        for w in graph.refs[v]:
            if parent[w] == -2:
                parent[w] = v
                queue.append(w)
    return ()


@dataclass(frozen=True)
class PathExplanation:
    """Why one path sits in its layer (see the module documentation).

    Sizes are bytes; ``None`` where the strategy has no such notion.
    """

    path: str
    name: str
    nar_size: int
    closure_size: int
    kept_alive: int
    layer: int
    layer_reason: str
    layer_size: int
    layer_paths: int
    layer_root: str | None
    chain: tuple[str, ...]
    dominator: str | None
    strategy: str
    budget: int
    size: int | None = None
    size_measure: str | None = None
    size_threshold: int | None = None
    popularity: int | None = None
    popularity_threshold: int | None = None
    head: str | None = None
    rating: int | None = None
    merged: bool = False
    lowest_kept_rating: int | None = None
    initial_layers: int | None = None

    @property
    def big(self) -> bool | None:
        """Over the size threshold (Nixery only)."""
        return None if self.size_threshold is None or self.size is None else self.size > self.size_threshold

    @property
    def popular(self) -> bool | None:
        """At or over the popularity threshold (Nixery only)."""
        if self.popularity_threshold is None or self.popularity is None:
            return None
        return self.popularity >= self.popularity_threshold

    def _root_note(self) -> str:
        if self.big or self.popular:
            return "none: as a big or popular path it hangs from the image root and starts its own initial layer"
        return "the image root: no single path keeps it alive alone"

    def lines(self) -> list[str]:
        """The explanation as plain sentences, one per fact.

        Example:
            >>> from layerlab.strategies import get_strategy
            >>> g = ClosureGraph.from_records([{"path": "/s/a-app-1", "narSize": 5}], ["/s/a-app-1"])
            >>> e = explain_path(grouping_facts(g, get_strategy("nixery", size_threshold=1, size_measure="nar")), 0)
            >>> e.lines()[1]
            'layer 0 (big, 5 B, 1 paths, first path app-1)'
        """
        from ..units import format_bytes as fb

        out = [
            f"{self.name}: {fb(self.nar_size)} own, {fb(self.closure_size)} closure, "
            f"keeps {fb(self.kept_alive)} alive alone",
            f"layer {self.layer} ({self.layer_reason}, {fb(self.layer_size)}, {self.layer_paths} paths"
            + (f", first path {_short(self.layer_root)})" if self.layer_root else ")"),
            "kept alive by: " + (" → ".join(_short(p) for p in self.chain) if self.chain else "no root reaches it"),
            "dominator: " + (_short(self.dominator) if self.dominator else self._root_note()),
        ]
        if self.size_threshold is not None and self.size is not None:
            ratio = self.size / self.size_threshold if self.size_threshold else float("inf")
            out.append(
                f"big: {'yes' if self.big else 'no'}, {self.size_measure} size {fb(self.size)} "
                f"against {fb(self.size_threshold)} "
                f"({ratio:.2f}× the threshold)"
            )
        if self.popularity_threshold is not None and self.popularity is not None:
            ratio = self.popularity / self.popularity_threshold if self.popularity_threshold else float("inf")
            out.append(
                f"popular: {'yes' if self.popular else 'no'}, popularity {self.popularity:,} "
                f"against {self.popularity_threshold:,} "
                f"({ratio:.2f}× the threshold)"
            )
        if self.head is not None and self.rating is not None:
            out.append(f"initial layer headed by {_short(self.head)}, rating {self.rating:,}")
        if self.merged:
            kept = f"{self.lowest_kept_rating:,}" if self.lowest_kept_rating is not None else "none"
            out.append(
                f"merged: rating {self.rating:,} lost; the lowest rating that kept its own layer was {kept}; "
                f"budget {self.budget} for {self.initial_layers} initial layers"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """Every field plus ``big`` and ``popular``, JSON-ready.

        Example:
            >>> from layerlab.strategies import get_strategy
            >>> g = ClosureGraph.from_records([{"path": "/s/a-app-1", "narSize": 5}], ["/s/a-app-1"])
            >>> e = explain_path(grouping_facts(g, get_strategy("nixery", size_threshold=1, size_measure="nar")), 0)
            >>> e.to_json()["big"], e.to_json()["chain"]
            (True, ['/s/a-app-1'])
        """
        from dataclasses import asdict

        d = asdict(self)
        d["chain"] = list(self.chain)
        d["big"], d["popular"] = self.big, self.popular
        return d


def _short(path: str | None) -> str:
    from ..graph import store_name

    return store_name(path) if path else ""


def explain_path(facts: GroupingFacts, path: int | str) -> PathExplanation:
    """Explain one path (index or store path) of ``facts.graph``.

    Raises:
        ConfigError: the path is not in the graph.

    Example:
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([
        ...     {"path": "/s/a-app-1", "narSize": 5, "references": ["/s/c-lib-1"]},
        ...     {"path": "/s/c-lib-1", "narSize": 7}], ["/s/a-app-1"])
        >>> facts = grouping_facts(g, get_strategy("nixery", size_threshold=6, size_measure="nar"), budget=5)
        >>> e = explain_path(facts, "/s/c-lib-1")
        >>> e.layer_reason, e.big, e.chain, e.dominator
        ('big', True, ('/s/a-app-1', '/s/c-lib-1'), None)
    """
    g = facts.graph
    if isinstance(path, str):
        i = g.index.get(path)
        if i is None:
            raise ConfigError(f"no path {path} in the image", source=g.name or "explain")
    else:
        i = int(path)
        if not 0 <= i < len(g):
            raise ConfigError(f"no path number {i} in the image", source=g.name or "explain")
    pos = facts.layer_of[i]
    layer = facts.layers[pos]
    d = facts.idom[i]
    nar = g.nar_size[i] if g.nar_size else 0
    closure = g.closure_size[i] if g.closure_size else 0
    kw: dict[str, Any] = {}
    if facts.rating is not None:
        head = facts.head[i]
        name = facts.strategy.values.get("size_measure", "closure")
        kw.update(
            size=facts.sizes[i],
            size_measure=str(name),
            size_threshold=facts.size_threshold,
            popularity=facts.pops[i],
            popularity_threshold=facts.popularity_threshold,
            initial_layers=facts.initial_layers,
        )
        if head >= 0:
            kw.update(head=g.paths[head], rating=facts.rating[head])
        if layer.reason == "merged":
            roots = {lay.root for lay in facts.layers if lay.reason != "merged" and lay.root}
            kept = [r for h, r in facts.rating.items() if g.paths[h] in roots]
            kw.update(merged=True, lowest_kept_rating=min(kept) if kept else None)
    return PathExplanation(
        path=g.paths[i],
        name=g.names[i],
        nar_size=int(nar),
        closure_size=int(closure),
        kept_alive=facts.kept_alive[i],
        layer=pos,
        layer_reason=layer.reason,
        layer_size=int(layer.size or 0),
        layer_paths=len(layer.paths),
        layer_root=layer.root,
        chain=tuple(g.paths[k] for k in why_chain(g, i)),
        dominator=g.paths[d] if 0 <= d < len(g) else None,
        strategy=facts.strategy.name,
        budget=facts.budget,
        **kw,
    )


def explain(
    graph: ClosureGraph, strategy: Strategy, context: Context | None, budget: int, query: str, limit: int = 5
) -> list[PathExplanation]:
    """Find the paths matching ``query`` and explain each (best match first).

    Raises:
        ConfigError: an empty query, or nothing matches.

    Example:
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([{"path": "/s/a-app-1", "narSize": 5}], ["/s/a-app-1"])
        >>> [e.layer_reason for e in explain(g, get_strategy("auto-layer"), None, 3, "app")]
        ['primary']
    """
    found = find_paths(graph, query, limit)
    if not found:
        raise ConfigError(f"no path matches {query!r}", source=graph.name or "search")
    facts = grouping_facts(graph, strategy, context, budget)
    return [explain_path(facts, i) for i in found]
