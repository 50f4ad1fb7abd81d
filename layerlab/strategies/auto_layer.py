"""nixpkgs dockerTools' auto-layer (the current default of ``streamLayeredImage``).

**Algorithm.**  Every path carries a *label*: the set of *primary* paths that
use it.  All labels start empty.  Repeatedly take the largest remaining path by
``narSize`` (ties: the larger path string first) as a new primary ``P``:

1. ``P``'s label becomes ``{P}``;
2. for every dependency ``d`` of ``P`` (its closure without ``P``): remove from
   ``d``'s label the primaries that use ``P`` (they now reach ``d`` through
   ``P``), then add ``P`` unless the label still holds a primary that is itself
   a dependency of ``P``.

Each distinct label is a layer.  When adding a primary would make more than
``budget`` distinct labels, stop and keep the previous labels.  Layers are
ordered by *layer closure size* (the ``narSize`` sum over everything the
layer's paths reference, themselves included), ties by the layer's first path,
so each layer comes after the layers it depends on.

**Speed.**  nixpkgs searches the graph for each candidate's dependencies and
users, copies the label of every path and counts the distinct labels for every
candidate.  Here closures are bit sets computed once over the strongly
connected components, labels are bit sets of primaries, and the state is the
list of layers (label -> bit set of members) rather than a label per path: a
candidate costs a few big-integer operations per existing layer, whatever the
size of its closure.  ``benchmarks/bench_auto_layer.py`` checks the output
against a direct transcription of nixpkgs' algorithm.

**Cycles.**  The algorithm only asks "is ``d`` in ``P``'s closure" and "does
``u`` reach ``P``"; both are defined on cyclic graphs (a member of a cycle is
both a dependency and a user of the other members), so cycles need no special
rule and the output equals nixpkgs' on the same input.

**Budget.**  ``budget`` is the number of layers for store paths; dockerTools
passes ``maxLayers - 1`` (the customisation layer takes one slot).  Excluded
paths (nixpkgs' ``excludePaths``) are not supported: every path gets a layer.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> g = ClosureGraph.from_records([
    ...     {"path": "/s/a-app", "narSize": 50, "references": ["/s/c-libc"]},
    ...     {"path": "/s/b-tool", "narSize": 40, "references": ["/s/c-libc"]},
    ...     {"path": "/s/c-libc", "narSize": 30, "references": []}])
    >>> [l.paths for l in AutoLayer().group(g, budget=3)]
    [('/s/c-libc',), ('/s/b-tool',), ('/s/a-app',)]
    >>> [l.paths for l in AutoLayer().group(g, budget=2)]
    [('/s/b-tool',), ('/s/a-app', '/s/c-libc')]
"""

from __future__ import annotations

import numpy as np

from ..graph import ClosureGraph
from .base import Context, Layer, Strategy
from ._util import iter_bits

__all__ = ["AutoLayer", "auto_layer_split", "auto_layer_groups"]


def auto_layer_split(graph: ClosureGraph, limit: int) -> dict[int, int]:
    """The layers when the algorithm stops at ``limit`` distinct labels, as
    ``{label: members}``: both bit sets, a label of primary path indices and
    the members' path indices.

    Rather than a label per path, the state is the list of layers (label ->
    members), so a candidate primary costs a few bit operations per existing
    layer instead of work per dependency.  While running, labels are small
    bit sets of primaries numbered in the order they were chosen.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 2, "references": ["/s/b"]},
        ...                                {"path": "/s/b", "narSize": 1}])
        >>> auto_layer_split(g, 1), auto_layer_split(g, 2)
        ({1: 3}, {1: 1, 2: 2})
    """
    nar = graph.require_nar_size("auto-layer")
    n = len(graph.paths)
    down = graph.closure_bits
    # Ascending (narSize, path); paths are sorted, so the index breaks ties.
    order = np.argsort(np.asarray(nar, dtype=np.int64), kind="stable").tolist()
    groups: dict[int, int] = {0: (1 << n) - 1}  # label (ordinals) -> members
    primaries: list[int] = []
    while order:
        p = order.pop()
        k = len(primaries)
        pbit = 1 << p
        kbit = 1 << k
        deps = down[p] ^ pbit  # a closure holds its own path
        primaries.append(p)
        trial = dict(groups)
        if not deps:  # a leaf: only p leaves its layer for a layer of its own
            for label, members in groups.items():
                if members & pbit:
                    remaining = members ^ pbit
                    if remaining:
                        trial[label] = remaining
                    else:
                        del trial[label]
                    break
            trial[kbit] = pbit
            if len(trial) > limit:
                primaries.pop()
                break
            groups = trial
            continue
        users = 0  # ordinals of the primaries that reach p
        dep_prims = 0  # ordinals of the primaries p reaches
        for o, q in enumerate(primaries[:-1]):
            if down[q] >> p & 1:
                users |= 1 << o
            if deps >> q & 1:
                dep_prims |= 1 << o
        # Only layers holding p or a dependency of p change; the rest are copied.
        mask = deps | pbit
        for label, members in groups.items():
            hit = members & mask
            if not hit:
                continue
            remaining = trial[label] ^ hit
            if remaining:
                trial[label] = remaining
            else:
                del trial[label]
            moved = hit & deps
            if moved:
                new = label & ~users
                if not new & dep_prims:
                    new |= kbit
                trial[new] = trial.get(new, 0) | moved
        trial[kbit] = trial.get(kbit, 0) | pbit
        if len(trial) > limit:
            primaries.pop()
            break
        groups = trial
    out = {}
    for label, members in groups.items():
        path_label = 0
        for o in iter_bits(label):
            path_label |= 1 << primaries[o]
        out[path_label] = members
    return out


def auto_layer_groups(graph: ClosureGraph, limit: int) -> list[tuple[int, list[int], int, int]]:
    """``(layer closure size, path indices, label, layer size)`` of every layer, in output order."""
    nar = np.asarray(graph.require_nar_size("auto-layer"), dtype=np.float64)  # sums stay exact below 2**53
    down = graph.closure_bits
    n = len(graph.paths)
    nbytes = (n + 7) // 8
    split = auto_layer_split(graph, limit)
    labels = list(split)

    def unpack(bitsets) -> np.ndarray:
        raw = b"".join(x.to_bytes(nbytes, "little") for x in bitsets)
        flat = np.frombuffer(raw, dtype=np.uint8).reshape(len(bitsets), nbytes)
        return np.unpackbits(flat, axis=1, bitorder="little")[:, :n]

    # Which layer each path is in (layers are disjoint), then each layer's members in path order.
    layer_of = np.arange(len(labels), dtype=np.float64) @ unpack(split.values())
    layer_of = layer_of.astype(np.int64)
    order = np.argsort(layer_of, kind="stable")
    bounds = np.searchsorted(layer_of[order], np.arange(len(labels) + 1)).tolist()
    members_of = [order[bounds[k] : bounds[k + 1]].tolist() for k in range(len(labels))]
    own = np.bincount(layer_of, weights=nar, minlength=len(labels))
    reaches = []
    for members in members_of:
        reach = 0
        for i in members:
            reach |= down[i]
        reaches.append(reach)
    closure_sizes = unpack(reaches) @ nar
    out = [(int(c), m, lab, int(o)) for c, m, lab, o in zip(closure_sizes.tolist(), members_of, labels, own.tolist())]
    out.sort(key=lambda t: (t[0], t[1][0]))
    return out


class AutoLayer(Strategy):
    """dockerTools' auto-layer: largest paths become primaries, layers labelled by the primaries using them."""

    name = "auto-layer"
    summary = "nixpkgs dockerTools (current default): largest paths as primaries, one layer per set of primaries using a path"
    params = ()

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        paths = graph.paths
        out = []
        for size, members, label, own in auto_layer_groups(graph, budget):
            single = label and not label & (label - 1)  # exactly one primary: the layer's root
            out.append(
                Layer(
                    paths=tuple([paths[i] for i in members]),
                    size=own,
                    rating=size,
                    reason="primary" if label else "rest",
                    root=paths[label.bit_length() - 1] if single else None,
                )
            )
        return out
