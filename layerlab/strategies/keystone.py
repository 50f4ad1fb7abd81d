"""``keystone``: layers that recur across images, spent where shared bytes are.

Under the *any digest* rule a layer is reused only when another image has a
layer with exactly the same paths.  A layer therefore pays off when its path
set is a function of data every image agrees on (the store path itself, the
Nix closure, the package-set popularity table), not of the rest of the image
being grouped; per-image merges (catch-all layers) never recur.  Every
earlier strategy mixes the two: Nixery and popularity-contest merge by image
rank, auto-layer's labels depend on which other large paths the image holds.

**1. Units.**  A path whose package is referenced by at most
``attach_popularity`` packages of the whole package set (popularity table)
and by exactly one path of this image is attached to that referrer; a
dependency cycle is one unit and is never attached.  Following attachments up
gives each path its *unit head*.  With ``attach_popularity=1`` the table says
the attached path has no other referrer anywhere, so its unit is the same in
every image that holds the head: a function of (head, package set), never of
the image.  With 2 (the default) a path may have one other referrer in the
package set; it is attached only in images where that other referrer is
absent, which on the Debian set is nearly always, and halves the layers left
to spend.

**2. Value.**  ``value = bytes * popularity(head) ** alpha * users(head) ** beta``
where ``bytes`` is the unit's ``narSize`` sum, ``popularity`` the table's count
for the head (at least 1) and ``users`` the number of paths of this image whose
closure holds the head, itself included (counted for the unit heads alone by
:meth:`ClosureGraph.ancestor_counts`, in memory linear in the graph; on large
graphs only for the units that can make the cut: a unit whose value, with
its users bounded from above by :meth:`ClosureGraph.ancestor_count_bounds`,
stays below the ``budget - 1``-th best exact value cannot, and goes to the
shared layer uncounted).
``users`` marks foundations (libc, libstdc++, libssl) that every part of an
image stands on and that other images will hold too; an image's own application has ``users = 1``, and its bytes
would be pulled once whatever layer they sit in.

**3. Layers.**  When the units fit in the budget, every unit gets a layer.
Otherwise units smaller than ``min_layer_size`` bytes never get a layer of
their own, the ``budget - 1`` most valuable remaining units (ties: head path)
each get one (reason ``unit``), and everything else shares one last layer
(reason ``rest``).  The shared layer is image-specific and is pulled whole with
each image, so the ranking fills it with what no other image holds: small,
unpopular, image-specific paths.

**Tuning.**  The defaults (``alpha=0.1, beta=1, attach_popularity=2,
min_layer_size=0``) were chosen once by ``tools/tune_keystone.py``, a grid over
the four parameters scored by the mean pull ratio at budgets 94, 30 and 10 on
the Debian 30-image set, and are fixed for every budget.  Tuned on the 15 even
images only, the sweep picks ``alpha=0`` with the rest equal, and on the 15
held-out images that choice pulls 1.004/1.036/1.126 times the ideal, against
1.022/1.133/1.215 for auto-layer.  Tuned on the odd images it picks
``attach_popularity=3``, which transfers badly (1.092 at budget 94 on the even
images): from 3 on, attachment depends on which other referrers an image
holds and units stop recurring, so values above 2 are not recommended.  ``min_layer_size`` had no measurable effect
on this set (every small unit is low-valued anyway) and defaults to off.

Without a popularity table every popularity counts as 1 and no path is
attached (units are single paths and cycles); without ``narSize`` every path
counts as one byte.  Cycles are units (step 1), so
they need no other rule.  Output order: units by
value, highest first, then the shared layer, so the same layers come in the
same order across images.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> from layerlab.popularity import Popularity
    >>> g = ClosureGraph.from_records([
    ...     {"path": "/s/a-app-1", "narSize": 50, "references": ["/s/b-libssl-3", "/s/d-app-data-1"]},
    ...     {"path": "/s/b-libssl-3", "narSize": 30, "references": ["/s/c-libc-2"]},
    ...     {"path": "/s/c-libc-2", "narSize": 20, "references": []},
    ...     {"path": "/s/d-app-data-1", "narSize": 10, "references": []}], ["/s/a-app-1"])
    >>> pop = Popularity({"libssl-3": 100, "libc-2": 1000, "app-data-1": 1})
    >>> # values: libc 20 * 1000**0.1 * 3 = 120, libssl 30 * 100**0.1 * 2 = 95, app+data 60 * 1 * 1 = 60
    >>> layers = Keystone().group(g, Context(pop), budget=3)
    >>> [(l.paths, l.reason) for l in layers]
    [(('/s/c-libc-2',), 'unit'), (('/s/b-libssl-3',), 'unit'), (('/s/a-app-1', '/s/d-app-data-1'), 'unit')]
    >>> [l.paths for l in Keystone().group(g, Context(pop), budget=2)][1]
    ('/s/a-app-1', '/s/b-libssl-3', '/s/d-app-data-1')
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..graph import ClosureGraph
from .base import Context, Layer, Strategy, make_layer, param

__all__ = ["Keystone", "UnitTable", "keystone_units", "unit_sizes", "unit_table"]


def keystone_units(
    graph: ClosureGraph, pops: tuple[int, ...] | list[int], attach_popularity: int
) -> dict[int, list[int]]:
    """Unit head -> member path indices (head included), see step 1.

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


@dataclass(frozen=True, eq=False)
class Keystone(Strategy):
    """Globally defined units, the most valuable alone, the rest in one layer (see the module documentation)."""

    name = "keystone"
    summary = (
        "layerlab: units defined by global data (recur across images), ranked by bytes x popularity; the rest shared"
    )
    uses_popularity = True
    alpha: float = param(
        "float", 0.1, "value = bytes * popularity(head) ** alpha * users ** beta", minimum=0, maximum=4
    )
    min_layer_size: int = param(
        "bytes", 0, "units smaller than this never get a layer of their own", minimum=0, maximum=10**10, log=True
    )
    attach_popularity: int = param(
        "int", 2, "attach a path to its only referrer when at most this many packages use it", minimum=0, maximum=10**6
    )
    beta: float = param("float", 1.0, "users = paths of this image whose closure holds the head", minimum=0, maximum=4)

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        # Without narSize every path counts as one byte: units are ranked by popularity and users alone.
        nar = graph.nar_size if graph.nar_size is not None else (1,) * len(graph.paths)
        large = len(graph.paths) >= _VECTORISE_FROM
        if self.beta and not large:
            _ = graph.sccs  # one search for the components serves the units' cycles and the users' counts
        if context.popularity is None:  # no package-set data: no attachments, popularity 1
            pops: tuple[int, ...] = (1,) * len(graph.paths)
            units = keystone_units(graph, pops, 0)
        else:
            pops = context.popularity.for_graph(graph)
            units = keystone_units(graph, pops, self.attach_popularity)
        alpha = self.alpha
        beta = self.beta
        heads = list(units)
        members = list(units.values())
        sizes = unit_sizes(members, nar)
        head_pops = list(map(max, map(pops.__getitem__, heads), itertools.repeat(1)))
        factor = {p: p**alpha for p in set(head_pops)}  # one power per distinct popularity
        base = list(map(operator.mul, sizes, map(factor.__getitem__, head_pops)))
        values: dict[int, float] = dict(enumerate(base))
        if beta:
            if large and len(heads) > budget:
                users = self._users_that_matter(graph, heads, sizes, base, budget)
            else:
                users = dict(enumerate(graph.ancestor_counts(heads)))
            values = {k: base[k] * u**beta for k, u in users.items()}
        paths = graph.paths
        ranked = sorted(values, key=lambda k: (-values[k], paths[heads[k]]))
        if len(heads) <= budget:
            return [make_layer(graph, members[k], rating=values[k], reason="unit", root=heads[k]) for k in ranked]
        eligible = [k for k in ranked if sizes[k] >= self.min_layer_size][: budget - 1]
        layers = [make_layer(graph, members[k], rating=values[k], reason="unit", root=heads[k]) for k in eligible]
        chosen = set(eligible)
        rest = [i for k, m in enumerate(members) if k not in chosen for i in m]
        layers.append(make_layer(graph, rest, reason="rest"))
        return layers

    def _users_that_matter(
        self, graph: ClosureGraph, heads: list[int], sizes: list[int], base: list[float], budget: int
    ) -> dict[int, int]:
        """Unit number -> users, exactly, for every unit large enough that can be
        among the ``budget - 1`` most valuable ones; the others are left out.

        A unit's value grows with its users, so
        :meth:`~layerlab.graph.ClosureGraph.ancestor_count_bounds` bounds it
        from above.  Units are counted exactly in order of that bound until
        every unit left has a bound below the ``budget - 1``-th best exact
        value: those cannot make the cut, and the units that do have exact
        values, hence the same layers and ratings as counting every unit.
        """
        want = budget - 1
        least = self.min_layer_size
        eligible = [k for k in range(len(heads)) if sizes[k] >= least]
        if want <= 0 or not eligible:
            return {}
        import numpy as np

        beta = self.beta
        bounds = np.asarray(graph.ancestor_count_bounds(), dtype=np.float64)
        candidates = np.asarray(eligible, dtype=np.int64)
        upper = np.asarray(base, dtype=np.float64)[candidates] * bounds[np.asarray(heads)[candidates]] ** beta
        by_upper = np.argsort(-upper, kind="stable")
        top = candidates[by_upper].tolist()
        upper = upper[by_upper]
        exact: dict[int, int] = {}
        take = min(len(top), max(4 * want, 512))
        while True:
            new = top[len(exact) : take]
            exact.update(zip(new, graph.ancestor_counts([heads[k] for k in new])))
            if len(exact) < want:
                return exact  # every eligible unit is counted
            best = sorted((base[k] * u**beta for k, u in exact.items()), reverse=True)
            threshold = best[want - 1] * (1 - 1e-9)  # a margin for rounding in the powers
            need = max(take, int(np.count_nonzero(upper >= threshold)))  # upper bounds descend
            if need == take:
                return exact
            take = need
