"""Small graph helpers shared by the strategy modules.

* :func:`iter_bits` lists the set bits of a Python-int bit set (the form of
  :attr:`ClosureGraph.closure_bits`) quickly, through numpy.
* :func:`ancestor_bits` is the mirror image of ``closure_bits``: for each path,
  the paths that reference it transitively (itself included).
* :func:`condensation` collapses dependency cycles into components and returns
  the component DAG, so algorithms written for acyclic closures (tree-unfolding
  scores, walk counts) have a defined meaning on graphs with cycles.
* :func:`package_key` is the ``name-version`` then hash sort key the nixpkgs
  tools use to break ties.

Example:
    >>> iter_bits(0b10110)
    [1, 2, 4]
    >>> package_key("/nix/store/abc-hello-2.10")
    'hello-2.10-/nix/store/abc'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..graph import ClosureGraph

__all__ = ["iter_bits", "ancestor_bits", "Condensation", "condensation", "package_key"]


def iter_bits(x: int) -> list[int]:
    """Indices of the set bits of ``x``, ascending.

    Example:
        >>> iter_bits(0)
        []
    """
    if x <= 0:
        return []
    if x.bit_count() <= 24:
        out = []
        while x:
            low = x & -x
            out.append(low.bit_length() - 1)
            x ^= low
        return out
    raw = x.to_bytes((x.bit_length() + 7) // 8, "little")
    return np.flatnonzero(np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")).tolist()


def ancestor_bits(graph: ClosureGraph) -> tuple[int, ...]:
    """For each path, the bit set of the paths that reach it (itself included).

    Computed once over the strongly connected components (users first), so
    cycles are handled.

    Example:
        >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "references": ["/s/b-b"]}, {"path": "/s/b-b"}])
        >>> ancestor_bits(g)
        (1, 3)
    """
    bits = [0] * len(graph.paths)
    back = graph.referrers
    for comp in reversed(graph.sccs):  # users before the paths they use
        acc = 0
        for i in comp:
            acc |= 1 << i
        for i in comp:
            for j in back[i]:
                acc |= bits[j]
        for i in comp:
            bits[i] = acc
    return tuple(bits)


@dataclass(frozen=True)
class Condensation:
    """The component DAG of a graph.

    Attributes:
        comps: the components, each a sorted tuple of path indices, in
            topological order (a component before every component it
            references: users first).
        comp_of: the component number of each path.
        succ: for each component, the sorted distinct components it references.
        pred: for each component, the sorted distinct components referencing it.
    """

    comps: tuple[tuple[int, ...], ...]
    comp_of: tuple[int, ...]
    succ: tuple[tuple[int, ...], ...]
    pred: tuple[tuple[int, ...], ...]


def condensation(n: int, refs: Sequence[Sequence[int]], sccs: Sequence[Sequence[int]]) -> Condensation:
    """Collapse the strongly connected components ``sccs`` (dependencies first,
    as :attr:`ClosureGraph.sccs` gives them) of a graph of ``n`` nodes.

    Example:
        >>> c = condensation(3, [(1,), (0, 2), ()], [(2,), (0, 1)])
        >>> c.comps, c.succ
        (((0, 1), (2,)), ((1,), ()))
    """
    comps = tuple(tuple(c) for c in reversed(sccs))
    comp_of = [0] * n
    for k, comp in enumerate(comps):
        for i in comp:
            comp_of[i] = k
    succ: list[set[int]] = [set() for _ in comps]
    pred: list[set[int]] = [set() for _ in comps]
    for i in range(n):
        ci = comp_of[i]
        for j in refs[i]:
            cj = comp_of[j]
            if cj != ci:
                succ[ci].add(cj)
                pred[cj].add(ci)
    return Condensation(
        comps=comps,
        comp_of=tuple(comp_of),
        succ=tuple(tuple(sorted(s)) for s in succ),
        pred=tuple(tuple(sorted(p)) for p in pred),
    )


def package_key(path: str) -> str:
    """Sort key of nixpkgs' popularity tools: the store path with its hash part
    moved to the end, so ties sort by name and version, then hash."""
    first, sep, rest = path.partition("-")
    if not sep:
        return path
    return f"{rest}-{first}"
