"""nixpkgs dockerTools' auto-layer (the current default of ``streamLayeredImage``).

Transcribed from nixpkgs' ``pkgs/build-support/docker/auto-layer.py`` (commit
``7b8db30a23ff8ec2af77fe1137cb5a74a4c0b8f1``).

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

**Labels as reach sets.**  After primaries ``P1..Pk`` the label of a path
``d`` is the set of the *lowest* primaries reaching ``d`` (those reaching no
other primary that reaches ``d``; of primaries on one cycle, which reach each
other, the latest stands for all).  The primaries reaching ``d`` are exactly
those reaching a lowest one, so the label and ``d``'s *reach set* (the
primaries whose closure holds ``d``) determine each other, and the number of
distinct labels is the number of distinct reach sets.  This follows from the
update rule by induction (see :func:`_split`), cycles included; the property
tests check it against the rule applied step by step on random cyclic graphs.

**Speed.**  nixpkgs searches the graph for each candidate's dependencies and
users, copies the label of every path and counts the distinct labels for every
candidate.  Here the closures of the candidates the run reaches (and a few
more, in batches) are searched once and kept as bit sets on the graph, so time
and memory grow linearly with the graph: on graphs under 4,096 paths by one
depth-first search that computes the closures of all it passes while it
returns (:class:`_ClosureSearch`), on larger ones per candidate
(:meth:`ClosureGraph.closure_of`).  The candidates' closures, transposed in
C-level passes (:func:`_reach_words`), give every path its reach set as a
small integer; the distinct ones are counted for a batch of candidates at a
time, and the stopping point found among them by bisection.  Paths are then
grouped by their reach set on the primaries, one pass in C.  A layer holding
a primary reaches exactly that primary's closure, whose size is the sum of the
sizes of the layers whose reach set holds it; the other layers need a union of
closures, and its size taken from the smallest primary closure holding it when
they differ in fewer paths.  Small graphs run in plain Python (numpy's import
alone would cost more than the whole run); large ones take those unions'
sizes from a numpy pass over the packed bit sets.

On small graphs the whole run up to the layers' paths and sizes goes to a
compiled helper, ``layerlab.strategies._autolayer`` (built with the package
where a C compiler is at hand; ``_autolayer.c`` holds the details): the same
algorithm on the same reach sets, with every closure as a bit set found
through the graph's strongly connected components, and the classes of equal
reach sets split candidate by candidate over the candidate's closure alone.
Without it, or on input it does not take, the Python code here runs; the
tests hold the two to identical layers.
``benchmarks/bench_auto_layer.py`` checks the output against a direct
transcription of nixpkgs' algorithm and times both, from a freshly loaded
graph and from one grouped before (figures: ``docs/benchmarks.md``).

**Cycles.**  The algorithm only asks "is ``d`` in ``P``'s closure" and "does
``u`` reach ``P``"; both are defined on cyclic graphs (a member of a cycle is
both a dependency and a user of the other members), so cycles need no special
rule beyond the one above, and the output equals nixpkgs' on the same input.

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

import _thread
import math
import sys
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import compress, repeat
from operator import itemgetter, lshift, or_
from typing import TYPE_CHECKING

from ..graph import BoundedCache, ClosureGraph
from .base import Context, Layer, Strategy

try:
    from . import _autolayer
except ImportError:  # built without a C compiler: the same algorithm in Python below
    _autolayer = None  # type: ignore[assignment]

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["AutoLayer", "auto_layer_split", "auto_layer_groups"]

#: Below this many paths everything runs in plain Python (numpy is not even
#: imported: on small graphs its import would cost more than the whole run).
_SMALL = 4096

#: ``bin()`` digits to the bytes 0 and 1, for :func:`itertools.compress`.
_DIGITS = bytes.maketrans(b"01", b"\x00\x01")


def _candidate_order(nar: Sequence[int], want: int | None = None) -> list[int]:
    """Path indices by descending ``narSize``, ties by descending index:
    nixpkgs sorts ascending (stably, on the sorted paths) and pops from the end.

    With ``want``, a first part of that order holding at least ``want``
    paths (or all): on a small graph the paths at or above a size threshold
    taken from a sample of the sizes, sorted, which is the start of the order
    when it holds enough of them.

    Example:
        >>> _candidate_order((5, 9, 5, 1)), _candidate_order((5, 9, 5, 1), 1)
        ([1, 2, 0, 3], [1, 2, 0, 3])
    """
    n = len(nar)
    if n < _SMALL:
        if want is not None and want * 8 < n:
            sample = sorted(nar[::8])
            threshold = sample[max(0, len(sample) - 1 - want // 4)]  # about 2 * want paths reach it
            above = list(compress(range(n - 1, -1, -1), map(threshold.__le__, reversed(nar))))
            if len(above) >= want:  # every path outside is smaller than every path inside
                return sorted(above, key=nar.__getitem__, reverse=True)
        # A stable sort keeps equal sizes in the order given, here descending indices.
        return sorted(range(n - 1, -1, -1), key=nar.__getitem__, reverse=True)
    import numpy as np

    return np.argsort(np.fromiter(nar, np.int64, n), kind="stable")[::-1].tolist()


def _packed(bitsets: list[int], nbytes: int) -> np.ndarray:
    """Python-int bit sets as the rows of a ``(len, nbytes)`` uint8 array.

    Bit ``j`` of row ``r`` is bit ``j % 8`` of byte ``j // 8``.
    """
    import numpy as np

    raw = b"".join([x.to_bytes(nbytes, "little") for x in bitsets])
    return np.frombuffer(raw, np.uint8).reshape(len(bitsets), nbytes)


def _bit_set(indices: list[int], n: int) -> int:
    """The Python-int bit set of ``indices`` (all below ``n``)."""
    import numpy as np

    mark = np.zeros(n, dtype=np.uint8)
    mark[indices] = 1
    return int.from_bytes(np.packbits(mark, bitorder="little").tobytes(), "little")


def _members(bits: int) -> list[int]:
    """The set bits of ``bits``, ascending.

    Example:
        >>> _members(0b101001)
        [0, 3, 5]
    """
    digits = bin(bits)[:1:-1]  # bit i is digit i
    if bits.bit_count() * 20 > len(digits):  # dense: one C-level pass over the digits
        return list(compress(range(len(digits)), digits.encode().translate(_DIGITS)))
    out = []
    find = digits.find
    i = find("1")
    while i >= 0:
        out.append(i)
        i = find("1", i + 1)
    return out


def _weight(bits: int, nar: Sequence[int], planes: Sequence[int] | None = None) -> int:
    """The ``narSize`` sum over the set bits of ``bits``.

    A few bits are looked up one by one; many, through ``planes``
    (:func:`_planes`) when given, a population count per bit of the sizes.

    Example:
        >>> _weight(0b101, (10, 20, 30)), _weight(0b101, (10, 20, 30), _planes((10, 20, 30)))
        (40, 40)
    """
    if bits.bit_count() <= 24:  # highest bit first: a few big-integer steps a bit
        total = 0
        while bits:
            top = bits.bit_length() - 1
            total += nar[top]
            bits ^= 1 << top
        return total
    if planes is not None:
        return sum([(bits & plane).bit_count() << b for b, plane in enumerate(planes)])
    return sum(compress(nar, bin(bits)[:1:-1].encode().translate(_DIGITS)))


#: For each bit ``j`` of a byte, the byte values as ``bin()`` digits of that bit.
_BIT_DIGITS = tuple(bytes(0x31 if v >> j & 1 else 0x30 for v in range(256)) for j in range(8))


def _planes(nar: Sequence[int]) -> tuple[int, ...] | None:
    """The bit planes of the sizes: plane ``b`` is the bit set of the paths
    whose ``narSize`` has bit ``b`` set (None for sizes beyond 64 bits).

    Built in C-level passes over the sizes as 64-bit words: byte ``b // 8`` of
    every word, its bit ``b % 8`` as a binary digit, read as one integer.

    Example:
        >>> _planes((1, 2, 3))
        (5, 6)
    """
    from array import array

    try:
        words = array("Q", nar)
    except OverflowError:
        return None
    if sys.byteorder == "big":
        words.byteswap()
    raw = words.tobytes()
    top = max(nar, default=0).bit_length()
    return tuple(int(raw[b >> 3 :: 8].translate(_BIT_DIGITS[b & 7])[::-1], 2) for b in range(top))


class _ClosureSearch:
    """Each path's closure as a bit set, searched on first use and kept.

    One depth-first search per path asked for that is not known yet, over the
    paths no earlier search reached: each path's closure is its bit and the
    closures its references lead to, gathered while the search returns, so a
    path's references are read once over all calls.  The search keeps no
    components until a cycle shows, then goes on as Tarjan's (as in
    :func:`layerlab.graph._tarjan`), where a component's members share one
    closure.  auto-layer asks for a few more
    paths than its budget, whose closures usually cover part of the graph
    only.

    Example:
        >>> down = _ClosureSearch([(1,), (0, 2), ()])  # 0 <-> 1 -> 2
        >>> down(2), down(0), down(1)
        (4, 7, 7)
    """

    __slots__ = ("refs", "bits", "index", "low", "acc", "counter", "lock")

    def __init__(self, refs: Sequence[Sequence[int]]) -> None:
        n = len(refs)
        self.refs = refs
        self.lock = _thread.allocate_lock()  # a graph shared by threads (a sweep) searches one at a time
        self.bits = [0] * n  # 0 until known (a closure holds its own path)
        self.index = [0] * n  # 0: not reached, -1: closure known, else the visit number
        self.low = [0] * n
        self.acc = [0] * n  # what a path on the search stack has gathered so far
        self.counter = 1

    def __call__(self, p: int) -> int:
        bits = self.bits[p]  # set once, when final
        if not bits:
            with self.lock:
                if not self.bits[p]:
                    self._search(p)
            bits = self.bits[p]
        return bits

    def _search(self, start: int) -> None:
        """A depth-first search from ``start`` over the paths not reached yet,
        first without components: while no reference leads back to a path
        still being searched, each path's closure is final when it returns.
        At the first such reference (a cycle) the search goes on as Tarjan's
        from where it stands (:meth:`_components`)."""
        refs, bits, index = self.refs, self.bits, self.index
        if not refs[start]:
            bits[start] = 1 << start
            index[start] = -1
            return
        index[start] = 1  # on the search stack
        path = [start]  # the search stack: paths, their remaining references, what each gathered
        todos = [iter(refs[start])]
        accs = [1 << start]
        while todos:
            a = accs[-1]
            for w in todos[-1]:
                b = bits[w]
                if b:
                    a |= b
                elif not index[w]:
                    rw = refs[w]
                    if not rw:
                        index[w] = -1
                        bits[w] = b = 1 << w
                        a |= b
                        continue
                    accs[-1] = a
                    index[w] = 1
                    path.append(w)
                    todos.append(iter(rw))
                    accs.append(1 << w)
                    break
                else:  # back to a path on the stack: a cycle
                    accs[-1] = a
                    self._components(path, todos, accs, w)
                    return
            else:
                v = path.pop()
                todos.pop()
                accs.pop()
                index[v] = -1
                bits[v] = a
                if accs:
                    accs[-1] |= a

    def _components(self, path: list[int], todos: list[Iterator[int]], accs: list[int], back: int) -> None:
        """Tarjan's search, taking over a search stack (``path`` with each
        path's remaining references and what it gathered) whose top path has
        just met ``back``, a path below it on the stack.  Every path the
        search finished before is a component of its own."""
        refs, bits, index, low, acc = self.refs, self.bits, self.index, self.low, self.acc
        counter = self.counter
        for v, a in zip(path, accs):
            index[v] = low[v] = counter
            counter += 1
            acc[v] = a
        low[path[-1]] = index[back]
        stack = path
        work = list(zip(path, todos))
        while work:
            v, todo = work[-1]
            a = acc[v]
            lv = low[v]
            for w in todo:
                iw = index[w]
                if iw < 0:  # closure known
                    a |= bits[w]
                elif not iw:
                    rw = refs[w]
                    if not rw:  # no references: its closure is itself
                        index[w] = -1
                        bits[w] = b = 1 << w
                        a |= b
                        continue
                    acc[v] = a  # descend; the rest of v's references wait in its iterator
                    low[v] = lv
                    index[w] = low[w] = counter
                    counter += 1
                    acc[w] = 1 << w
                    stack.append(w)
                    work.append((w, iter(rw)))
                    break
                elif iw < lv:  # on the stack: same component
                    lv = iw
            else:
                work.pop()
                if lv == index[v]:  # v roots a component: the stack down to v
                    if stack[-1] == v:
                        stack.pop()
                    else:
                        pos = len(stack) - 1
                        while stack[pos] != v:
                            pos -= 1
                        for w in stack[pos:]:
                            index[w] = -1
                            bits[w] = a
                        del stack[pos:]
                    index[v] = -1
                    bits[v] = a
                    if work:
                        acc[work[-1][0]] |= a
                else:  # inside a component rooted further up: hand it all to the parent
                    u = work[-1][0]
                    acc[u] |= a
                    if lv < low[u]:
                        low[u] = lv
        self.counter = counter


def _closures(graph: ClosureGraph) -> Callable[[int], int]:
    """Each path's closure as a bit set, on demand.

    Bit sets the graph holds already (:attr:`ClosureGraph.closure_bits`) are
    used as they are.  Otherwise a small graph searches closures on first use
    (:class:`_ClosureSearch`, kept on the graph), and a large one searches a
    path's closure on first use and keeps the most recent ones on the graph,
    so memory stays linear in the graph.
    """
    if "closure_bits" in graph.__dict__:
        return graph.closure_bits.__getitem__
    n = len(graph.paths)
    if n < _SMALL:
        search: _ClosureSearch = graph.memo.value("auto-layer closure search", lambda: _ClosureSearch(graph.refs))
        return search
    memo = graph.memo.cache("auto-layer closure bit sets", maxsize=512)  # a run needs a few more than its budget

    def closure(p: int) -> int:
        bits = memo.get(p)
        if bits is None:
            bits = memo[p] = _bit_set(graph.closure_of([p]), n)
        return bits

    return closure


#: For each position ``j`` in a byte: ``bin()`` text to bytes, digit 1 to ``1 << j``, all else (``0b`` too) to 0.
_LANE = tuple(bytes((1 << j) if v == 0x31 else 0 for v in range(256)) for j in range(8))


def _reach_words(
    closures: Sequence[int], n: int, words: int, buf: bytearray | None = None, start: int = 0
) -> bytearray:
    """The bit matrix ``closures`` transposed: ``words`` 64-bit words a path,
    bit ``j`` of path ``d``'s words set when ``d`` is in ``closures[j]``.

    Written into ``buf`` (``8 * words * n`` bytes; zeroed when None), for
    the closures from ``start`` (a multiple of 8) on: those before it are in
    ``buf`` already.  Eight closures at a time, in C-level passes: each closure's ``bin()`` digits become one byte a
    path holding the closure's bit in its place in the byte, the eight are
    added as integers (no carries: each byte gets distinct bits), and the sum's
    bytes go into every path's word at that byte by one slice assignment.

    Example:
        >>> list(memoryview(_reach_words([0b011, 0b110], 3, 1)).cast("B")[::8])
        [1, 3, 2]
    """
    width = 8 * words
    if buf is None:
        buf = bytearray(width * n)
    for lane in range(start, len(closures), 8):
        acc = 0
        for j, bits in enumerate(closures[lane : lane + 8]):
            acc += int.from_bytes(bin(bits).encode().translate(_LANE[j]), "big")
        buf[lane >> 3 :: width] = acc.to_bytes(n, "little")
    return buf


def _words_to_ints(buf: bytearray, words: int) -> list[int]:
    """Each path's words (:func:`_reach_words`) as one Python int.

    Example:
        >>> _words_to_ints(_reach_words([0b011, 0b110], 3, 1), 1)
        [1, 3, 2]
    """
    from array import array

    view = array("Q")
    if view.itemsize != 8:  # pragma: no cover - no such platform in use
        raise RuntimeError("auto-layer needs 64-bit array words")
    view.frombytes(buf)
    if sys.byteorder == "big":  # pragma: no cover
        view.byteswap()
    if words == 1:
        return view.tolist()
    out = view[words - 1 :: words].tolist()
    for w in range(words - 2, -1, -1):
        out = list(map(or_, map(lshift, out, repeat(64)), view[w::words].tolist()))
    return out


def _count(classes: Iterable[int], k: int) -> int:
    """How many distinct labels the first ``k`` primaries give: the number of
    distinct ``classes`` (reach bit sets) on their first ``k`` bits."""
    return len(set(map(((1 << k) - 1).__and__, classes)))


def _split(
    down: Callable[[int], int],
    nar: Sequence[int],
    limit: int,
    orders: Callable[[int], list[int]],
    reaches: MutableMapping[int, list[int]] | BoundedCache[int, list[int]],
) -> tuple[list[int], int, list[int]]:
    """The algorithm proper: each path's *reach* (the bit set of the candidates,
    by position in ``order``, whose closure holds it) over the candidates
    examined, how many of them become primaries, and the start of the
    candidate order holding them.  ``orders(m)`` gives a start of the
    candidate order (:func:`_candidate_order`) at least ``m`` long (or all);
    ``reaches`` keeps reach sets by the number of candidates they cover.

    **Why reach sets suffice.**  After primaries ``P1..Pk``, nixpkgs' label of
    a path ``d`` is the set of the *lowest* primaries reaching ``d``: those
    that reach no other primary reaching ``d`` (primaries on one cycle reach
    each other; the latest of them stands for all, the earlier ones leave every
    label when it is added).  By induction over the update rule: adding ``P``
    leaves paths outside ``P``'s closure alone; gives ``P`` itself ``{P}``;
    removes from a dependency's label the primaries that reach ``P``, exactly
    the ones no longer lowest (``P`` lies below them) or, on ``P``'s cycle,
    superseded; and adds ``P`` unless a remaining one lies below ``P``,
    which happens exactly when some primary reaching ``d`` lies below ``P``.
    The primaries reaching ``d`` are the ones reaching a lowest one, so the
    label and the reach set (on the first ``k`` bits) determine each other:
    the number of distinct labels is the number of distinct reach sets.

    Reach sets come from the candidates' closures by one transposition
    (:func:`_reach_words`), for a first batch of candidates and then for more
    while the whole batch fits the limit: the next batch is sized from the
    labels per candidate so far, with a margin that doubles each time a batch
    falls short, so the batches are few and overshoot little.  Then, among the
    distinct reach sets, the first ``k`` whose count exceeds the limit is
    found by bisection (counts only grow with ``k``).
    """
    n = len(nar)
    closures: list[int] = []
    words = 1
    buf = bytearray(8 * n)
    filled = 0  # candidates transposed into buf
    fits = 0  # a candidate count known to stay within the limit (0 primaries: one label)
    size = min(n, max(16, limit // 3))  # labels per primary are a few on real closures
    boost = 1.25
    order = orders(2 * size)
    while True:
        if size > len(order):
            order = orders(2 * size)
        closures.extend(map(down, order[len(closures) : size]))
        reach = reaches.get(size)
        if reach is None:
            if size > 64 * words:
                words = (size + 63) // 64
                buf = bytearray(8 * words * n)
                filled = 0
            _reach_words(closures, n, words, buf, filled & ~7)  # a partial lane of eight is transposed again
            filled = size
            reach = reaches[size] = _words_to_ints(buf, words)
        classes = set(reach)
        total = len(classes)
        if total > limit:
            break
        if size == n:
            return reach, n, order
        fits = size
        rate = max(total - 1, 1) / size  # labels per candidate so far
        size = min(n, size + max(8, min(size, math.ceil((limit + 1 - total) / rate * boost))))
        boost *= 2  # each batch that falls short: a larger margin (at most doubling), so few batches
    over = size  # _count(classes, fits) <= limit < _count(classes, over)
    while over - fits > 1:
        mid = (fits + over) // 2
        if _count(classes, mid) > limit:
            over = mid
        else:
            fits = mid
    return reach, fits, order


def _primary_reach(reach: list[int], order: list[int], k: int) -> dict[int, int]:
    """``{reach set: ordinal}`` of the primaries (the latest one for primaries on one cycle)."""
    mask = (1 << k) - 1
    return {reach[p] & mask: j for j, p in enumerate(order[:k])}


def _lowest(keys: Iterable[int], ups: list[int]) -> list[int]:
    """nixpkgs' labels of the paths whose reach sets are ``keys``, as bit sets
    of primary ordinals: their lowest primaries (``ups[j]``: primary ``j``'s
    reach set).

    Primary ``i`` lies below ``j`` when ``j`` reaches it (``j`` is in
    ``ups[i]``) and it does not reach ``j``, or both reach each other (one
    cycle) and ``i`` came later; ``j`` is lowest in a reach set holding
    nothing below it.

    Example:
        >>> _lowest([0b111, 0b011], [0b001, 0b011, 0b111])  # 0 reaches 1 reaches 2
        [4, 2]
        >>> _lowest([0b011], [0b011, 0b011])  # 0 and 1 on one cycle: the later one
        [2]
    """
    below = [0] * len(ups)
    for i, up in enumerate(ups):
        for j in _members(up):
            below[j] |= 1 << i  # j reaches i
    for j, up in enumerate(ups):
        below[j] &= ~up | ~((2 << j) - 1)  # less what reaches j, unless later
    out = []
    for key in keys:
        label = 0
        rest = key
        while rest:
            j = rest.bit_length() - 1
            rest ^= 1 << j
            if not below[j] & key:
                label |= 1 << j
        out.append(label)
    return out


def _classes(
    graph: ClosureGraph, limit: int
) -> tuple[list[int], dict[int, list[int]], int, list[int], Callable[[int], int]]:
    """``(order, {reach set: members}, primaries, reach, closure)`` of a run:
    paths grouped by their reach set over the primaries, members ascending."""
    nar = graph.require_nar_size("auto-layer")
    n = len(nar)
    down = _closures(graph)
    orders = graph.memo.cache("auto-layer candidate order", maxsize=1)

    def order_from(want: int) -> list[int]:
        order = orders.get(0)
        if order is None or len(order) < min(want, n):
            order = orders[0] = _candidate_order(nar, want)
        return order

    # Reach sets are kept on small graphs only (a list of n integers each).
    reaches: MutableMapping[int, list[int]] | BoundedCache[int, list[int]] = (
        graph.memo.cache("auto-layer reach sets", maxsize=16) if n < _SMALL else {}
    )
    reach, k, order = _split(down, nar, limit, order_from, reaches)
    mask = (1 << k) - 1
    keys = list(map(mask.__and__, reach))
    groups: defaultdict[int, list[int]] = defaultdict(list)
    deque(map(list.append, map(groups.__getitem__, keys), range(n)), 0)  # in C: each path to its group
    return order, groups, k, keys, down


def auto_layer_split(graph: ClosureGraph, limit: int) -> dict[int, int]:
    """The layers when the algorithm stops at ``limit`` distinct labels, as
    ``{label: members}``: both bit sets, a label of primary path indices (the
    primaries using the layer, as nixpkgs labels it) and the members' path
    indices.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 2, "references": ["/s/b"]},
        ...                                {"path": "/s/b", "narSize": 1}])
        >>> auto_layer_split(g, 1), auto_layer_split(g, 2)
        ({1: 3}, {1: 1, 2: 2})
    """
    if not graph.paths:
        return {0: 0}
    order, groups, k, keys, _ = _classes(graph, limit)
    labels = _lowest(groups, [keys[p] for p in order[:k]])
    members = _member_bits(list(groups.values()), len(keys))
    return {_path_label(label, order): bits for label, bits in zip(labels, members)}


def _member_bits(groups: list[list[int]], n: int) -> list[int]:
    """The bit set of each of ``groups`` (path indices below ``n``).

    Example:
        >>> _member_bits([[0, 3, 5], [1, 2, 4]], 6)
        [41, 22]
    """
    if n >= _SMALL:  # the table below grows with the square of n
        return [_bit_set(members, n) for members in groups]
    bit = [1 << i for i in range(n)]
    return [reduce(or_, map(bit.__getitem__, members), 0) for members in groups]


def _path_label(label: int, order: list[int]) -> int:
    """A label of primary ordinals as a bit set of the primaries' path indices.

    Example:
        >>> _path_label(0b101, [7, 3, 4])
        144
    """
    out = 0
    while label:
        top = label.bit_length() - 1
        out |= 1 << order[top]
        label ^= 1 << top
    return out


def _unrooted_reach(
    graph: ClosureGraph, down: Callable[[int], int], groups: list[list[int]], keys: list[int], primaries: list[int]
) -> list[int]:
    """What each group of paths reaches (a bit set), for groups holding no
    primary, in plain Python.

    A one-path group reaches its path's closure, a group some primary reaches
    the union of its members' closures (all searched, as the closures of the
    primaries hold them), and the group no primary reaches (reach set 0) the
    paths outside every primary's closure and the closures of what it
    references inside them.
    """
    known = down.bits.__getitem__ if isinstance(down, _ClosureSearch) else down
    refs = graph.refs
    out = []
    for members in groups:
        if len(members) == 1:
            out.append(down(members[0]))
        elif keys[members[0]]:
            found = list(map(known, members))  # in C; a closure not searched yet reads 0
            out.append(reduce(or_, found if 0 not in found else map(down, members)))
        else:
            inside = reduce(or_, map(down, primaries), 0)
            referenced = set().union(*map(refs.__getitem__, members))
            entries = compress(referenced, map(keys.__getitem__, referenced))  # into a primary's closure
            out.append(reduce(or_, map(known, entries), ((1 << len(refs)) - 1) ^ inside))
    return out


def _unrooted_sizes(
    graph: ClosureGraph,
    nar: Sequence[int],
    down: Callable[[int], int],
    groups: list[list[int]],
    labels: list[int],
    keys: list[int],
    primaries: list[int],
    primary_sizes: list[int],
) -> list[int]:
    """The layer closure size (narSize sum over everything a group reaches,
    itself included) of each group holding no primary (:func:`_unrooted_reach`),
    in plain Python.

    ``labels`` are the groups' reach sets and ``primary_sizes`` the closure
    sizes of the primaries.  A group some primaries reach lies in each one's
    closure, and so does what it reaches: when that differs from the smallest
    such closure in fewer paths than it holds, its size is that closure's
    less the difference's.  Few bits are summed one by one, many by bit planes
    (:func:`_planes`, kept on the graph) when there are enough such sets to pay
    for them.
    """
    reaches = _unrooted_reach(graph, down, groups, keys, primaries)
    full = (1 << len(nar)) - 1
    counts: list[int] | None = None
    base = [0] * len(reaches)
    for j, (bits, label) in enumerate(zip(reaches, labels)):
        count = bits.bit_count()
        if count <= 24:
            continue
        if bits == full:
            base[j], reaches[j] = sum(nar), 0
        elif label:
            if counts is None:
                counts = [down(p).bit_count() for p in primaries]
            o = min(_members(label), key=counts.__getitem__)
            rest = down(primaries[o]) ^ bits
            if rest.bit_count() < count:
                base[j], reaches[j] = primary_sizes[o], -rest  # a negative set: subtracted
    planes: Sequence[int] | None = None
    if sum(1 for bits in reaches if bits.bit_count() > 24) > 16:
        planes = graph.memo.value("auto-layer size planes", lambda: _planes(nar))
    return [
        size + _weight(bits, nar, planes) if bits >= 0 else size - _weight(-bits, nar, planes)
        for size, bits in zip(base, reaches)
    ]


def _unrooted_sizes_numpy(
    graph: ClosureGraph,
    nar: Sequence[int],
    down: Callable[[int], int],
    groups: list[list[int]],
    labels: list[int],
    keys: list[int],
    primaries: list[int],
    primary_sizes: list[int],
) -> list[int]:
    """:func:`_unrooted_sizes` for large graphs: closures searched per group,
    their sizes in one numpy pass over the packed reach bit sets."""
    import numpy as np

    n = len(nar)
    weights = np.fromiter(nar, np.float64, n)  # sums stay exact below 2**53
    reaches = [down(members[0]) if len(members) == 1 else _bit_set(graph.closure_of(members), n) for members in groups]
    if not reaches:
        return []
    reach_bits = np.unpackbits(_packed(reaches, (n + 7) // 8), axis=1, count=n, bitorder="little")
    return (reach_bits @ weights).astype(np.int64).tolist()


def _layers(
    graph: ClosureGraph, limit: int
) -> tuple[list[tuple[int, list[int], int, int, int | None]], list[int], int]:
    """``(layer closure size, path indices, layer size, reach set, root)`` of
    every layer in output order (reach sets as bit sets of primary ordinals;
    the root is the primary the layer holds, if any), the candidate order
    and the number of primaries.

    A layer holding a primary reaches exactly that primary's closure: the
    layers whose reach set holds the primary, so its closure size is the sum
    of their sizes.  The others' closures are searched
    (:func:`_unrooted_sizes`); the layers, and so their sizes, depend on the
    graph and the number of primaries alone, so the sizes are memoised on the
    graph under that number, like the graph's closure bit sets.  Small graphs
    go to the compiled helper when it is built (it gives the primaries alone
    as the candidate order).
    """
    nar = graph.require_nar_size("auto-layer")
    n = len(nar)
    if not n:
        return [], [], 0
    if n < _SMALL and _autolayer is not None:
        found = _autolayer.layers(graph.refs, nar, limit)
        if found is not None:
            return found
    order, groups, k, keys, down = _classes(graph, limit)
    primary_of = _primary_reach(keys, order, k)
    labels = list(groups)
    members_of = list(groups.values())
    own = [sum(map(nar.__getitem__, members)) for members in members_of]
    by_primary = [0] * k
    for label, own_size in zip(labels, own):
        while label:
            low = label & -label
            by_primary[low.bit_length() - 1] += own_size
            label ^= low
    closure: list[int | None] = [by_primary[primary_of[label]] if label in primary_of else None for label in labels]
    roots: list[int | None] = [order[primary_of[label]] if label in primary_of else None for label in labels]
    missing = [j for j, size in enumerate(closure) if size is None]
    memo = graph.memo.cache("auto-layer layer facts")
    computed = memo.get(k)
    if computed is None:
        computed = memo[k] = (_unrooted_sizes if n < _SMALL else _unrooted_sizes_numpy)(
            graph,
            nar,
            down,
            [members_of[j] for j in missing],
            [labels[j] for j in missing],
            keys,
            order[:k],
            by_primary,
        )
    for j, size in zip(missing, computed):
        closure[j] = size

    # Closure size, ties by the first path (nixpkgs leaves ties to set order).
    rank = sorted(range(len(labels)), key=list(zip(closure, map(itemgetter(0), members_of))).__getitem__)
    layers = [(closure[j], members_of[j], own[j], labels[j], roots[j]) for j in rank]
    return layers, order, k  # type: ignore[return-value]


def auto_layer_groups(graph: ClosureGraph, limit: int) -> list[tuple[int, list[int], int, int]]:
    """``(layer closure size, path indices, label, layer size)`` of every layer,
    in output order; the label is a bit set of primary path indices.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 2, "references": ["/s/b"]},
        ...                                {"path": "/s/b", "narSize": 1}])
        >>> auto_layer_groups(g, 2)
        [(1, [1], 2, 1), (3, [0], 1, 2)]
    """
    layers, order, k = _layers(graph, limit)
    key_of = {members[0]: key for _, members, _, key, _ in layers}
    first = {p: members[0] for _, members, _, _, _ in layers for p in members}
    labels = _lowest([key for _, _, _, key, _ in layers], [key_of[first[p]] for p in order[:k]])
    return [
        (size, list(members), _path_label(label, order), own)
        for (size, members, own, _, _), label in zip(layers, labels)
    ]


@dataclass(frozen=True, eq=False)
class AutoLayer(Strategy):
    """dockerTools' auto-layer: largest paths become primaries, layers labelled by the primaries using them."""

    name = "auto-layer"
    summary = (
        "nixpkgs dockerTools (current default): largest paths as primaries, one layer per set of primaries using a path"
    )

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        paths = graph.paths
        # Positional fields (paths, size, rating, reason, root): keyword
        # parsing is a measurable share of building ~100 layers.
        return [
            Layer(
                itemgetter(*members)(paths) if len(members) > 1 else (paths[members[0]],),
                own,
                size,
                "primary" if label else "rest",
                None if root is None else paths[root],
            )
            for size, members, own, label, root in _layers(graph, budget)[0]
        ]
