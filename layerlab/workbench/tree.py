"""The interactive tree of what keeps an image's bytes alive, as a plotly icicle.

:func:`icicle_figure` turns :class:`~layerlab.metrics.explain.GroupingFacts`
into a plotly figure (a plain dict, ready for the
``application/vnd.plotly.v1+json`` renderer JupyterLab ships with plotly, so
nothing is fetched from a network).  Every path of the image is a box; its
parent is its immediate dominator in the tree the strategy splits, and its
width is the bytes it keeps alive alone (its own ``narSize`` plus everything
it dominates), so a box's width is exactly what removing that path would save.
Paths no root reaches hang from the image box.

* The fill colour is the layer that holds the path, by the layer's identity
  (:func:`layerlab.plot.layer_colour`): the same layer keeps its colour after
  a slider move and in every panel; catch-all layers are grey.
* Hovering a box shows the package name, own and kept-alive sizes, the layer
  (position, reason, size) and, for Nixery, whether the path was big or popular.
* Clicking a box zooms into its subtree (plotly's own behaviour; the path bar
  above the tree leads back).  ``maxdepth`` columns are drawn at a time and
  text too small to read is hidden, which keeps a 1,000-path tree readable: a
  box too thin for a label even when its parent fills the view gets no text
  at all, so plotly.js does not lay out and measure text it would hide.
* ``highlight`` draws a thick black border round one path and zooms the view
  to its parent.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> from layerlab.metrics.explain import grouping_facts
    >>> from layerlab.strategies import get_strategy
    >>> g = ClosureGraph.from_records([
    ...     {"path": "/s/a-app-1", "narSize": 5, "references": ["/s/c-lib-1"]},
    ...     {"path": "/s/c-lib-1", "narSize": 7}], ["/s/a-app-1"])
    >>> fig = icicle_figure(grouping_facts(g, get_strategy("nixery", size_threshold=6, size_measure="nar"), budget=5))
    >>> t = fig["data"][0]
    >>> t["type"], t["ids"], t["parents"], t["values"]
    ('icicle', ['image', 'p1', 'p0'], ['', 'image', 'image'], [12, 7, 5])
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..metrics.explain import GroupingFacts
from ..plot import CATCH_ALL_REASONS, layer_colour
from ..units import format_bytes

__all__ = ["icicle_figure", "path_id"]

#: Height in pixels a box needs for a label (plotly.js hides text under 9 px with ``uniformtext``).
TEXT_PX = 12
#: Height in pixels of the path bar above the tree.
PATHBAR_PX = 24


def path_id(index: int) -> str:
    """The box id of path ``index`` in :func:`icicle_figure` (``p<index>``).

    Example:
        >>> path_id(12)
        'p12'
    """
    return f"p{index}"


@dataclass(frozen=True)
class _Pool:
    """A box standing for some children of one box: ``held`` are all the paths under it."""

    parent: str
    held: tuple[int, ...]


def _visible(
    children: list[list[int]],
    value: Sequence[int],
    idom: Sequence[int],
    *,
    max_boxes: int,
    max_children: int,
    keep: set[int],
) -> tuple[dict[int, str], dict[str, _Pool]]:
    """Which paths get a box, under which box, and the pools that stand for the others.

    Boxes are handed out best first from the image down: among the paths whose
    parent has a box, the one keeping the most bytes alive gets the next, until
    ``max_boxes`` are given.  A box shows at most ``max_children`` boxes below
    it; the next ones go into a "+N smaller" pool below it, which shows the next
    ``max_children`` and a further pool, and so on, so a click on a pool opens
    the next largest.  Children that get no box at all are held by the last
    pool.  The paths in ``keep`` and the boxes above them always get one.
    Returns ``parent_of`` (path -> parent id) and ``pools`` (id -> pool),
    largest first.
    """
    n = len(idom)
    shown: dict[int, int] = {}  # path -> its rank among its parent's boxes
    below = [0] * (n + 1)
    heap = [(-value[c], c) for c in children[n]]
    heapq.heapify(heap)
    boxes = 0
    while heap and boxes < max_boxes:
        _, v = heapq.heappop(heap)
        parent = n if idom[v] in (n, -1) else idom[v]
        shown[v] = below[parent]
        below[parent] += 1
        boxes += 1 + (below[parent] > max_children and below[parent] % max_children == 1)
        for c in children[v]:
            heapq.heappush(heap, (-value[c], c))
    for v in sorted(keep):
        chain = []
        while 0 <= v < n and v not in shown:  # the box and every box above it
            chain.append(v)
            v = idom[v]
        for c in reversed(chain):
            parent = n if idom[c] in (n, -1) else idom[c]
            shown[c] = below[parent]
            below[parent] += 1
    parent_of: dict[int, str] = {}
    pools: dict[str, _Pool] = {}
    for v in [n, *sorted(shown, key=lambda i: (-value[i], i))]:
        pid = "image" if v == n else f"p{v}"
        kids = sorted(children[v], key=lambda c: (shown.get(c, len(children[v]) + 1), -value[c], c))
        ranked = [c for c in kids if c in shown]
        rest = [c for c in kids if c not in shown]
        where = pid
        for k in range(0, len(ranked), max_children):
            if k:
                pools[f"more:{pid}:{k}"] = _Pool(where, tuple(ranked[k:]) + tuple(rest))
                where = f"more:{pid}:{k}"
            for c in ranked[k : k + max_children]:
                parent_of[c] = where
        if rest:
            pools[f"more:{pid}:rest"] = _Pool(where, tuple(rest))
    return parent_of, pools


def icicle_figure(
    facts: GroupingFacts,
    *,
    highlight: int | None = None,
    maxdepth: int = 5,
    height: int = 560,
    title: str | None = None,
    max_boxes: int = 100,
    max_children: int = 40,
) -> dict[str, Any]:
    """The icicle of ``facts`` as a plotly figure dict (see the module documentation).

    The paths that keep the most bytes alive get boxes, ``max_boxes`` in all and
    at most ``max_children`` below any one box, and so does the first path of
    every layer that is not a catch-all (so every layer shows its colour); below
    each box the other children are pooled into one "+N smaller" box whose
    hover names them.  plotly.js lays out every box it is given, drawn or not,
    so this bounds the work in the browser however large the image;
    ``highlight`` and the boxes above it always get boxes.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> from layerlab.metrics.explain import grouping_facts
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([{"path": f"/s/{k}-p{k}", "narSize": 10 + k} for k in range(5)])
        >>> t = icicle_figure(grouping_facts(g, get_strategy("single-layer"), budget=5), max_boxes=2)["data"][0]
        >>> t["ids"], t["labels"][-1], t["values"][-1]
        (['image', 'p4', 'p3', 'more:image:rest'], '+3 smaller', 33)
    """
    g = facts.graph
    n = len(g)
    nar = g.nar_size or tuple(0 for _ in range(n))
    big = set(facts.big)
    popular = set(facts.popular)
    layer_col = [layer_colour(layer) for layer in facts.layers]
    children: list[list[int]] = [[] for _ in range(n + 1)]
    for i, d in enumerate(facts.idom):
        children[n if d in (n, -1) else d].append(i)
    value = [*facts.kept_alive, 0]
    total = sum(facts.kept_alive[i] for i in children[n])
    value[n] = total
    # The first path of every layer but the catch-all ones gets a box, so every layer shows its colour.
    index = g.index
    keep = {index[layer.root] for layer in facts.layers if layer.root and layer.reason not in CATCH_ALL_REASONS}
    if highlight is not None and 0 <= highlight < n:
        keep.add(highlight)
    parent_of, pools = _visible(children, value, facts.idom, max_boxes=max_boxes, max_children=max_children, keep=keep)
    ids = ["image"]
    parents = [""]
    labels = [g.name or "image"]
    values = [total]
    colours = ["#ffffff"]
    custom: list[list[Any]] = [[g.name or "image", "-", format_bytes(total), "", "the whole image", "-"]]
    row: dict[int, int] = {}
    for i in sorted(parent_of, key=lambda i: (-value[i], i)):
        d = facts.idom[i]
        row[i] = len(ids)
        ids.append(f"p{i}")
        parents.append(parent_of[i])
        labels.append(g.names[i])
        values.append(facts.kept_alive[i])
        pos = facts.layer_of[i]
        layer = facts.layers[pos]
        colours.append(layer_col[pos])
        flags = []
        if i in big:
            flags.append("big")
        if i in popular:
            flags.append("popular")
        if d == -1:
            flags.append("no root reaches it")
        kind = "catch-all " if layer.reason in CATCH_ALL_REASONS else ""
        custom.append(
            [
                g.names[i],
                format_bytes(nar[i]),
                format_bytes(facts.kept_alive[i]),
                f"layer {pos}",
                f"{kind}{layer.reason}, {format_bytes(layer.size or 0)}, {len(layer.paths)} paths",
                ", ".join(flags) or "-",
            ]
        )
    for pid, pool in pools.items():
        held = pool.held
        count = len(held)
        size = sum(value[c] for c in held)
        by_layer: dict[int, int] = {}
        for c in held:
            by_layer[facts.layer_of[c]] = by_layer.get(facts.layer_of[c], 0) + value[c]
        main = max(by_layer, key=lambda k: (by_layer[k], -k))
        names = ", ".join(g.names[c] for c in held[:4]) + (", …" if count > 4 else "")
        ids.append(pid)
        parents.append(pool.parent)
        labels.append(f"+{count} smaller")
        values.append(size)
        colours.append(layer_col[main])
        opens = "click to see the largest" if not pid.endswith(":rest") else "search a name to see one of them"
        custom.append(
            [
                f"{count} smaller paths: {names}",
                "-",
                format_bytes(size),
                f"{len(by_layer)} layer{'s' if len(by_layer) > 1 else ''}",
                f"mostly layer {main} ({facts.layers[main].reason})",
                opens,
            ]
        )
    # Text only where it can be read: a box under TEXT_PX of the plot's height when its parent fills the view is
    # never tall enough to hold a label (only the path bar names it once it is zoomed into), and plotly.js would
    # still lay out, measure and hide its text on every draw.
    value_of = dict(zip(ids, values))
    margin = {"l": 4, "r": 4, "t": 36 if title else 8, "b": 4}
    inner = max(height - margin["t"] - margin["b"] - PATHBAR_PX, 1)
    readable = "%{label} %{customdata[2]}"
    texts = [
        readable if not parent or value_of[parent] * TEXT_PX <= v * inner else "" for parent, v in zip(parents, values)
    ]
    line: dict[str, Any] = {"width": 0.5, "color": "#ffffff"}  # one style for all: no per-box arrays to apply
    level = ""
    if highlight is not None and 0 <= highlight < n:
        line = {"width": [0.5] * len(ids), "color": ["#ffffff"] * len(ids)}
        line["width"][row[highlight]] = 4
        line["color"][row[highlight]] = "#000000"
        level = parents[row[highlight]]
    trace: dict[str, Any] = {
        "type": "icicle",
        "ids": ids,
        "parents": parents,
        "labels": labels,
        "values": values,
        "branchvalues": "total",
        "customdata": custom,
        "marker": {"colors": colours, "line": line},
        "hovertemplate": (
            "<b>%{customdata[0]}</b><br>own %{customdata[1]}, keeps %{customdata[2]} alive<br>"
            "%{customdata[3]}: %{customdata[4]}<br>flags: %{customdata[5]}<extra></extra>"
        ),
        "texttemplate": texts,
        "tiling": {"orientation": "h"},
        "pathbar": {"visible": True, "side": "top"},
        "maxdepth": maxdepth,
        "sort": False,
        "leaf": {"opacity": 1},
    }
    if level:
        trace["level"] = level
    return {
        "data": [trace],
        "layout": {
            "height": height,
            "margin": margin,
            "uniformtext": {"minsize": 9, "mode": "hide"},
            "title": {"text": title or "", "font": {"size": 13}},
            "hoverlabel": {"font": {"size": 12}},
        },
        "config": {"displaylogo": False, "responsive": True},
    }
