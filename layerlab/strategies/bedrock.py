"""``bedrock``: one global layer order, foundations at the bottom, the rest on top.

Two cache rules decide what a layering costs (:mod:`layerlab.metrics.scorecard`).
Under Docker's ChainID rule a layer is reused only when every layer below it
matches too, and when a package is bumped Nix renames it and everything that
references it, so every layer from the lowest renamed one upward is fetched
again.  Both reward the same shape: layers in an order that depends only on
global facts (so images that share foundations share a prefix of layers), and
dependencies below the paths that reference them (so a rename touches the top
of the stack, not the bottom).

**1. Units.**  Each dependency cycle is one unit; every other path is a unit of
its own.  ``attach_popularity`` > 0 attaches a path referenced by at most that
many packages of the package set, and by one path of the image, to its
referrer, as :func:`~layerlab.strategies.keystone.keystone_units` does
(off by default: an attached path is re-shipped whenever its referrer changes).

**2. Order.**  Every unit gets a global key, ``bytes * popularity(head) **
gamma`` (``bytes`` the unit's ``narSize`` sum, popularity at least 1), which
depends on the package set and the unit itself, never on the rest of the image.
Units are visited by key, largest first; a visit emits the visited unit's
not-yet-emitted dependencies, depth first and deepest first, children again by
key, then the unit itself.  The result is a topological order (a unit always
comes after everything it references) that pulls each large, popular path
down together with what it needs.  It is the list-scheduling rule for
minimising weighted completion time under precedence constraints (Smith 1956;
Sidney 1975): here the weight is a path's bytes and the cost of a rename is
the bytes at or above its position, so heavy paths and their closures go
first.  Two images holding the same large foundations list them in the same
order, which is what ChainID needs.

**3. Budget.**  When the units fit, each gets a layer, in that order.
Otherwise each unit of at least ``min_layer_size`` bytes is valued
``bytes * popularity(head) ** alpha * depth ** beta``, where ``depth`` is the
number of units from the unit's position in the order to the top (units
emitted early sit under most of the image, like libc; the image's own
application comes last).  The ``budget - 1`` most valuable units keep a layer
each, in the order of step 2, and everything else shares one last layer
(reason ``rest``) on top: it holds what no other image is likely to hold,
and on top it is the only layer a change to it re-ships under ChainID.

Within the dedicated layers no path sits below a layer holding something it
references; the ``rest`` layer on top may hold dependencies of layers below it.

**Defaults** (``gamma``, ``alpha``, ``beta``, ``min_layer_size``,
``attach_popularity``) are the same for every budget; they were chosen on one
half of the Debian 30-image set (images at even positions, file-name order)
and checked on the other half and the other way round, with
``tools/tune_bedrock.py``; the figures are in the scorecard pages of the
documentation, never here.

Ties are broken by package name and version, then by store path, so the output
is the same for any ``PYTHONHASHSEED``.  Without a popularity table every
popularity is 1 and nothing is attached; without ``narSize`` every path counts
as one byte.  Time and memory are linear in the closure (plus sorting).

Sources: W. E. Smith, "Various optimizers for single-stage production", Naval
Research Logistics Quarterly 3 (1956); J. B. Sidney, "Decomposition algorithms
for single-machine sequencing with precedence relations and deferral costs",
Operations Research 23 (1975); Docker's layer ChainID (moby, ``layer/layer.go``,
``CreateChainID``).

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> from layerlab.popularity import Popularity
    >>> g = ClosureGraph.from_records([
    ...     {"path": "/s/a-app-1", "narSize": 50, "references": ["/s/b-libssl-3", "/s/d-tool-1"]},
    ...     {"path": "/s/b-libssl-3", "narSize": 30, "references": ["/s/c-libc-2"]},
    ...     {"path": "/s/c-libc-2", "narSize": 20, "references": []},
    ...     {"path": "/s/d-tool-1", "narSize": 10, "references": ["/s/c-libc-2"]}], ["/s/a-app-1"])
    >>> pop = Popularity({"libssl-3": 100, "libc-2": 1000, "tool-1": 1})
    >>> [l.paths[0] for l in Bedrock().group(g, Context(pop), budget=4)]
    ['/s/c-libc-2', '/s/b-libssl-3', '/s/d-tool-1', '/s/a-app-1']
    >>> # over budget, values (bytes * pop ** 0.1 * depth ** 0.5): libssl 82, libc 80, app 50, tool 14
    >>> [(l.paths, l.reason) for l in Bedrock(min_layer_size=0).group(g, Context(pop), budget=2)]
    [(('/s/b-libssl-3',), 'unit'), (('/s/a-app-1', '/s/c-libc-2', '/s/d-tool-1'), 'rest')]
"""

from __future__ import annotations

from collections.abc import Sequence

from ..graph import ClosureGraph
from .base import Context, Layer, Param, Strategy, make_layer
from .keystone import keystone_units

__all__ = ["Bedrock", "closure_order"]


def closure_order(refs: Sequence[Sequence[int]], keys: Sequence[object]) -> list[int]:
    """A topological order of an acyclic graph that visits nodes by ``keys``, smallest first.

    ``refs[u]`` are the nodes ``u`` references.  Each visit emits the visited
    node's not-yet-emitted dependencies depth first (children by key), then
    the node: dependencies always come before the nodes that reference them.
    Linear in nodes plus edges, plus the sorts.

    Example:
        >>> # 0 -> 1 -> 2, 3 alone; 3 has the smallest key, then 0
        >>> closure_order([[1], [2], [], []], [1, 5, 9, 0])
        [3, 2, 1, 0]
    """
    n = len(refs)
    by_key = sorted(range(n), key=keys.__getitem__)
    rank = [0] * n
    for r, u in enumerate(by_key):
        rank[u] = r
    children = [sorted(set(rs), key=rank.__getitem__) for rs in refs]
    done = bytearray(n)
    out: list[int] = []
    for start in by_key:
        if done[start]:
            continue
        done[start] = 1
        stack = [(start, 0)]
        while stack:
            u, k = stack[-1]
            kids = children[u]
            while k < len(kids) and done[kids[k]]:
                k += 1
            if k < len(kids):
                v = kids[k]
                stack[-1] = (u, k + 1)
                done[v] = 1
                stack.append((v, 0))
            else:
                stack.pop()
                out.append(u)
    return out


class Bedrock(Strategy):
    """Units in one global, dependency-first order; the most valuable alone, the rest on top (module docs)."""

    name = "bedrock"
    summary = "layerlab: one global dependency-first order (largest, most popular first); the rest on top"
    uses_popularity = True
    params = (
        Param("gamma", "float", 0.3, "order key = bytes * popularity(head) ** gamma", minimum=0, maximum=4),
        Param("alpha", "float", 0.1, "over budget: value = bytes * popularity ** alpha * depth ** beta", minimum=0, maximum=4),
        Param("beta", "float", 0.5, "depth = units from this one to the top of the order", minimum=0, maximum=4),
        Param("min_layer_size", "bytes", 300_000, "over budget, units smaller than this share the top layer", minimum=0, maximum=10**10, log=True),
        Param("attach_popularity", "int", 0, "attach a path to its only referrer when at most this many packages use it (0: off)", minimum=0, maximum=10**6),
    )

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        n = len(graph.paths)
        nar = graph.nar_size if graph.nar_size is not None else (1,) * n
        if context.popularity is None:
            pops: Sequence[int] = (1,) * n
            units = keystone_units(graph, pops, 0)
        else:
            pops = context.popularity.for_graph(graph)
            units = keystone_units(graph, pops, self.attach_popularity)
        heads = list(units)
        unit_of = [0] * n
        for u, h in enumerate(heads):
            for i in units[h]:
                unit_of[i] = u
        size = [sum(nar[i] for i in units[h]) for h in heads]
        pop = [max(pops[h], 1) for h in heads]
        names = graph.names
        paths = graph.paths
        tie = [(names[h], paths[h]) for h in heads]
        refs: list[set[int]] = [set() for _ in heads]
        for i in range(n):
            u = unit_of[i]
            for j in graph.refs[i]:
                v = unit_of[j]
                if v != u:
                    refs[u].add(v)
        gamma = self.gamma
        keys = [(-size[u] * pop[u] ** gamma, tie[u]) for u in range(len(heads))]
        order = closure_order([tuple(r) for r in refs], keys)
        if len(order) <= budget:
            return [make_layer(graph, units[heads[u]], reason="unit", root=heads[u]) for u in order]
        alpha, beta, floor = self.alpha, self.beta, self.min_layer_size
        depth = [0] * len(order)
        for pos, u in enumerate(order):
            depth[u] = len(order) - pos
        value = [size[u] * pop[u] ** alpha * depth[u] ** beta for u in range(len(heads))]
        eligible = sorted((u for u in order if size[u] >= floor), key=lambda u: (-value[u], tie[u]))
        chosen = set(eligible[: budget - 1])
        layers = [
            make_layer(graph, units[heads[u]], rating=int(value[u]), reason="unit", root=heads[u]) for u in order if u in chosen
        ]
        rest = [i for u in order if u not in chosen for i in units[heads[u]]]
        if rest:
            layers.append(make_layer(graph, rest, reason="rest"))
        return layers
