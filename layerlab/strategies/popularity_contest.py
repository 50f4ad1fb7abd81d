"""nixpkgs dockerTools' popularity contest (the old default of ``buildLayeredImage``).

Transcribed from nixpkgs' ``pkgs/build-support/references-by-popularity/closure-graph.py``
(commit ``50f5e9a088530c315ad1a9b5c7456e5d76cb5da9``).

**Score.**  The closure is unfolded into a tree from its roots (paths no other
path references): a path referenced from two places appears twice.  Then,
bottom-up, each node's counters are merged into its parent's and incremented,
so a path's score grows with how often it appears *and* how deep.  Written out,
that process gives a closed form, which is what this module computes in
linear passes instead of building the tree::

    walks(p) = [p is a root] + sum(walks(u) for u referencing p)
    score(p) = walks(p) + sum(walks(a) for a in strict ancestors of p)

(``walks(p)`` is the number of times ``p`` appears in the unfolded tree.)  On
nixpkgs' documented example ``A→B, A→G, B→C, B→E, C→D, C→E, D→F, E→F`` this
gives A 1, B 2, C 3, D 4, E 5, F 9, G 2, as its comments and tests state.

``score="appearances"`` ranks by ``walks(p)`` alone, the simpler reading
("how many times a path appears in the unfolded tree").  It is not what
nixpkgs computes, but it is what the reference figures for this strategy on
the Debian 30-image set were measured with (1.03/1.56/1.91 at budgets
94/30/10; the nixpkgs score gives 1.04/1.54/1.92).

**Order.**  Score descending; ties by the store path with its hash moved to the
end (name and version, then hash).

**Layers.**  The first ``budget - 1`` paths in that order get a layer each, the
rest share one layer (nixpkgs' ``limit_layers``).  ``budget`` is the number of
layers for store paths; dockerTools passes ``maxLayers - 1`` because the
customisation layer takes one slot.

**Cycles.**  nixpkgs recurses forever on a cycle.  Here every dependency cycle
counts as one node of the unfolding: its members share the component's score,
a component with no referrer outside itself is a root, and ties inside a
component fall to the name rule.  On acyclic graphs this is exactly nixpkgs.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> g = ClosureGraph.from_records([
    ...     {"path": "/s/1-root", "references": ["/s/2-lib"]}, {"path": "/s/2-lib", "references": ["/s/3-libc"]},
    ...     {"path": "/s/3-libc", "references": []}, {"path": "/s/4-other", "references": ["/s/3-libc"]}])
    >>> [l.paths for l in PopularityContest().group(g, budget=3)]
    [('/s/3-libc',), ('/s/2-lib',), ('/s/1-root', '/s/4-other')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from ..graph import ClosureGraph, condensation
from ._util import package_key
from .base import Context, Layer, Strategy, make_layer, param

__all__ = ["PopularityContest", "contest_scores", "contest_order", "first_n_layers"]


def contest_scores(n: int, refs: Sequence[Sequence[int]], score: str = "nixpkgs") -> list[int]:
    """The popularity-contest score of each of ``n`` nodes (see the module documentation).

    ``score="appearances"`` returns ``walks(p)`` alone.

    Example:
        >>> # A B C D E F G
        >>> contest_scores(7, [(1, 6), (2, 4), (3, 4), (5,), (5,), (), ()])
        [1, 2, 3, 4, 5, 9, 2]
        >>> contest_scores(7, [(1, 6), (2, 4), (3, 4), (5,), (5,), (), ()], "appearances")
        [1, 1, 1, 1, 2, 3, 1]
    """
    cond = condensation(n, refs)
    k = len(cond.comps)
    walks = [0] * k
    for c in range(k):  # users first
        preds = cond.pred[c]
        walks[c] = sum(walks[p] for p in preds) if preds else 1
    if score == "appearances":
        return [walks[cond.comp_of[i]] for i in range(n)]
    scores = [0] * k
    stamp = [-1] * k
    for c in range(k):
        total = walks[c]
        stack = list(cond.pred[c])
        for p in stack:
            stamp[p] = c
        while stack:
            a = stack.pop()
            total += walks[a]
            for q in cond.pred[a]:
                if stamp[q] != c:
                    stamp[q] = c
                    stack.append(q)
        scores[c] = total
    return [scores[cond.comp_of[i]] for i in range(n)]


def contest_order(paths: Sequence[str], refs: Sequence[Sequence[int]], score: str = "nixpkgs") -> list[tuple[int, int]]:
    """``(index, score)`` of every node, most popular first, ties by :func:`package_key`.

    Example:
        >>> contest_order(["A", "B"], [(1,), ()])
        [(1, 2), (0, 1)]
    """
    scores = contest_scores(len(paths), refs, score)
    order = sorted(range(len(paths)), key=lambda i: (-scores[i], package_key(paths[i]), paths[i]))
    return [(i, scores[i]) for i in order]


def first_n_layers(graph: ClosureGraph, ranked: Sequence[tuple[int, int]], budget: int, reason: str) -> list[Layer]:
    """The first ``budget - 1`` ranked paths alone, the rest in one layer.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> g = ClosureGraph.from_records([{"path": p, "narSize": 1} for p in ("/s/a", "/s/b", "/s/c")])
        >>> [(layer.paths, layer.reason) for layer in first_n_layers(g, [(2, 9), (0, 5), (1, 1)], 2, "contest")]
        [(('/s/c',), 'contest'), (('/s/a', '/s/b'), 'rest')]
    """
    if len(ranked) <= budget:
        return [make_layer(graph, [i], rating=s, reason=reason, root=i) for i, s in ranked]
    head = ranked[: budget - 1]
    tail = [i for i, _ in ranked[budget - 1 :]]
    return [
        *(make_layer(graph, [i], rating=s, reason=reason, root=i) for i, s in head),
        make_layer(graph, tail, reason="rest"),
    ]


ContestScore = Literal["nixpkgs", "appearances"]


@dataclass(frozen=True, eq=False)
class PopularityContest(Strategy):
    """dockerTools' popularity contest: ``budget - 1`` most popular paths alone, the rest merged."""

    name = "popularity-contest"
    summary = "nixpkgs dockerTools (old default): tree-unfolding popularity, first budget-1 paths alone, rest merged"
    score: ContestScore = param(
        "choice",
        "nixpkgs",
        "nixpkgs: depth-weighted tree score as nixpkgs computes it; "
        "appearances: times a path appears in the unfolded tree",
        choices=get_args(ContestScore),
    )

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        return first_n_layers(graph, contest_order(graph.paths, graph.refs, self.score), budget, "contest")
