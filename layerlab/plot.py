"""Figures: dominator trees, layer sizes, overlap, pull bytes and sweeps.

Every function returns a :class:`matplotlib.figure.Figure` built without
``pyplot``: no global figure registry, no backend switch, nothing to close.
In a notebook the figure displays itself (the inline backend formats any
``Figure``); elsewhere :func:`to_png` renders it with Agg, and
:func:`save_png` writes it atomically.  PNGs carry no software/version
metadata, so the same input gives the same bytes.

The functions take plain data (a graph, layers, a matrix, a table of numbers)
rather than computing metrics themselves, so they work with any strategy and
with whatever :mod:`layerlab.metrics` returns.

Design of the dominator tree (:func:`dominator_tree`): a 1,000-path tree does
not fit as nodes and edges, so it is drawn as an *icicle*: depth runs left to
right, and each node is a box whose height is the bytes of its dominated
subtree (its own ``narSize`` plus everything only it keeps alive).  Children
sit inside their parent's span, largest first.  Subtrees smaller than
``min_share`` of the image are collapsed into their parent, small siblings are
pooled into one grey box ("+N small"), and only boxes tall enough to hold text
are labelled, so the picture stays readable at any size.  The fill colour is
the layer that holds the node; hatching marks big and popular paths (the ones
Nixery hangs from the root, each starting a layer).

Example:
    >>> from layerlab.strategies.base import Layer
    >>> fig = layer_sizes([Layer(("/nix/store/a-x",), 5_000_000, reason="big")], title="one layer")
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()][:1], fig.axes[0].get_title()
    (['0'], 'one layer')
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from .errors import ConfigError
from .graph import ClosureGraph, store_name
from .strategies.base import Layer
from .units import format_bytes

__all__ = [
    "format_bytes",
    "layer_colours",
    "reason_colours",
    "layer_colour",
    "CATCH_ALL_REASONS",
    "CATCH_ALL_COLOUR",
    "TreeBox",
    "icicle_boxes",
    "dominator_tree",
    "StrategyTree",
    "strategy_tree",
    "layer_sizes",
    "layer_stack",
    "overlap_heatmap",
    "overlap_order",
    "pull_vs_budget",
    "sweep_heatmap",
    "pareto_plot",
    "to_png",
    "save_png",
]

_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
    "#d37295",
    "#fabfd2",
    "#8cd17d",
    "#b6992d",
    "#499894",
    "#f1ce63",
    "#a0cbe8",
    "#ffbe7d",
    "#d4a6c8",
    "#79706e",
)  # Tableau 20, reordered so neighbours differ
_MERGED = "#c9c9c9"
_SMALL = "#ececec"
_HATCH = {"big": "////", "popular": "....", "big+popular": "xxxx"}
_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
#: One colour per layer reason of every strategy; catch-all layers in greys of their own.
_REASON_COLOUR = {
    "big": "#e15759",
    "popular": "#4e79a7",
    "big+popular": "#b07aa1",
    "dominator": "#59a14f",
    "unit": "#f28e2b",
    "small": "#a0cbe8",
    "primary": "#76b7b2",
    "contest": "#edc948",
    "popularity": "#9c755f",
    "path": "#ff9da7",
    "pipeline": "#499894",
    "excluded": "#d37295",
    "merged": "#9d9d9d",
    "rest": "#cfc6bd",
    "single": "#5f5f5f",
    "unreachable": "#000000",
}


def reason_colours(reasons: Sequence[str]) -> dict[str, str]:
    """A distinct fill colour for every reason in ``reasons``.

    Known reasons keep a fixed colour; any other reason takes the first
    palette colour no other reason of the figure uses.

    Example:
        >>> reason_colours(["unit", "rest", "brand-new"])
        {'unit': '#f28e2b', 'rest': '#cfc6bd', 'brand-new': '#4e79a7'}
    """
    out = {r: _REASON_COLOUR[r] for r in dict.fromkeys(reasons) if r in _REASON_COLOUR}
    free = [c for c in _PALETTE if c not in out.values()]
    for r in dict.fromkeys(reasons):
        if r not in out:
            out[r] = free.pop(0) if free else _PALETTE[len(out) % len(_PALETTE)]
    return out


def _general(v: float) -> str:
    """A tick label in ``%g`` form: ``_general(0.5) == "0.5"``."""
    return f"{v:g}"


_BYTES = FuncFormatter(format_bytes)


def _short(path_or_name: str, width: int = 28) -> str:
    name = store_name(path_or_name)
    return name if len(name) <= width else name[: width - 1] + "…"


def layer_colours(layers: Sequence[Layer]) -> list[str]:
    """One fill colour per layer: the palette by descending size, grey for catch-all layers.

    Example:
        >>> layer_colours([Layer(("a",), 1, reason="merged"), Layer(("b",), 9)])
        ['#c9c9c9', '#4e79a7']
    """
    order = sorted(range(len(layers)), key=lambda i: (-(layers[i].size or 0), i))
    out = [""] * len(layers)
    k = 0
    for i in order:
        if layers[i].reason in ("merged", "unreachable"):
            out[i] = _MERGED
        else:
            out[i] = _PALETTE[k % len(_PALETTE)]
            k += 1
    return out


#: Reasons of catch-all layers (what is left after the strategy's chosen layers).
CATCH_ALL_REASONS = frozenset({"merged", "rest", "unreachable"})

#: The colour of a catch-all layer: neutral grey, darker than any identity colour's grey level.
CATCH_ALL_COLOUR = "#8c8c8c"


def layer_colour(layer: Layer) -> str:
    """A colour that stays with a layer's identity across configurations: grey for catch-all layers.

    The identity is the layer's root path when it has one (the path it was
    started from), else its first path.  Its SHA-1 picks a hue on the colour
    wheel and one of three saturation/lightness pairs, all saturated enough to
    tell apart from the catch-all grey.  Unlike :func:`layer_colours` (palette by
    size rank), the same layer gets the same colour in every panel and after
    every slider move.

    Example:
        >>> a = Layer(("/nix/store/a-x",), 5, reason="big", root="/nix/store/a-x")
        >>> layer_colour(a) == layer_colour(Layer(("/nix/store/a-x", "/nix/store/b-y"), 9, root="/nix/store/a-x"))
        True
        >>> layer_colour(Layer(("/nix/store/a-x",), 5, reason="merged"))
        '#8c8c8c'
    """
    import colorsys
    import hashlib

    if layer.reason in CATCH_ALL_REASONS:
        return CATCH_ALL_COLOUR
    key = layer.root or (layer.paths[0] if layer.paths else "")
    h = hashlib.sha1(key.encode()).digest()
    hue = int.from_bytes(h[:2], "big") / 65536
    sat, light = ((0.72, 0.45), (0.62, 0.58), (0.80, 0.36))[h[2] % 3]
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


# --------------------------------------------------------------- dominator tree
@dataclass(frozen=True)
class TreeBox:
    """One box of the icicle drawing of a dominator tree.

    Attributes:
        depth: column (0 is the image itself, 1 the children of the root...).
        start: offset of the box along the byte axis.
        size: bytes of the subtree the box stands for.
        node: the path index, or ``-1`` for a pool of small siblings.
        count: number of paths the box stands for.
        collapsed: the box stands for more than one path and its descendants
            are not drawn.
        group: for a pool, the group its members share (see ``group_of``).
    """

    depth: int
    start: int
    size: int
    node: int
    count: int
    collapsed: bool
    group: int = -1


def icicle_boxes(
    idom: Sequence[int],
    nar_size: Sequence[int],
    *,
    group_of: Sequence[int] | None = None,
    min_share: float = 0.004,
    max_depth: int = 7,
) -> list[TreeBox]:
    """Lay out a dominator tree as icicle boxes (see the module documentation).

    ``idom[i]`` is the immediate dominator of path ``i``: ``len(idom)`` for the
    artificial root, ``-1`` for a path no root reaches (left out).  The first
    box is the whole image at depth 0 (``node == len(idom)``).  Siblings whose
    subtree is below ``min_share`` of the image are pooled, one pool per
    ``group_of`` value (e.g. the layer of each path), largest pool first.

    Example:
        >>> [(b.depth, b.start, b.size, b.node) for b in icicle_boxes([3, 0, 3], [5, 3, 10])]
        [(0, 0, 18, 3), (1, 0, 10, 2), (1, 10, 8, 0), (2, 15, 3, 1)]
        >>> [(b.depth, b.size, b.node, b.count) for b in icicle_boxes([3, 0, 3], [5, 3, 10], min_share=0.6)]
        [(0, 18, 3, 3), (1, 18, -1, 3)]
    """
    n = len(idom)
    children: list[list[int]] = [[] for _ in range(n + 1)]
    for i, d in enumerate(idom):
        if d >= 0:
            children[d].append(i)
    # Subtree sizes and counts, children before parents (iterative post-order).
    sub = [0] * (n + 1)
    cnt = [0] * (n + 1)
    order: list[int] = []
    stack = [n]
    while stack:
        v = stack.pop()
        order.append(v)
        stack.extend(children[v])
    for v in reversed(order):
        s = nar_size[v] if v < n else 0
        c = 1 if v < n else 0
        for ch in children[v]:
            s += sub[ch]
            c += cnt[ch]
        sub[v], cnt[v] = s, c
    total = sub[n]
    limit = max(min_share * total, 1e-12)
    boxes = [TreeBox(0, 0, total, n, cnt[n], False)]
    work = [(n, 0, 0)]  # node, depth, start
    while work:
        v, depth, start = work.pop()
        if depth >= max_depth:
            continue
        kids = sorted(children[v], key=lambda k: (-sub[k], k))
        pos = start + (nar_size[v] if v < n else 0)
        pools: dict[int, list[int]] = {}
        for k in kids:
            if sub[k] < limit:
                pool = pools.setdefault(-1 if group_of is None else group_of[k], [0, 0])
                pool[0] += sub[k]
                pool[1] += cnt[k]
                continue
            deeper = depth + 1 < max_depth and any(sub[g] >= limit for g in children[k])
            boxes.append(TreeBox(depth + 1, pos, sub[k], k, cnt[k], cnt[k] > 1 and not deeper))
            if deeper:
                work.append((k, depth + 1, pos))
            pos += sub[k]
        for group, (size, count) in sorted(pools.items(), key=lambda kv: (-kv[1][0], kv[0])):
            boxes.append(TreeBox(depth + 1, pos, size, -1, count, True, group))
            pos += size
    boxes.sort(key=lambda b: (b.depth, b.start, b.node))
    return boxes


@dataclass(frozen=True)
class StrategyTree:
    """What :func:`dominator_tree` needs to explain one strategy's split of one image.

    Attributes:
        layers: the strategy's layers.
        idom: the immediate dominators of the tree the strategy works on
            (Nixery: big and popular paths hung from the root).
        big: paths over the size threshold (Nixery only).
        popular: paths at or over the popularity threshold (Nixery only).
        popularity_threshold: the effective threshold (Nixery only).
    """

    layers: tuple[Layer, ...]
    idom: tuple[int, ...]
    big: tuple[int, ...] = ()
    popular: tuple[int, ...] = ()
    popularity_threshold: int | None = None


def strategy_tree(strategy: Any, graph: ClosureGraph, context: Any = None, budget: int = 94) -> StrategyTree:
    """Group ``graph`` with ``strategy`` and work out the tree and flags to draw.

    For Nixery-family strategies the tree is the one the strategy splits
    (big and popular paths hung from the artificial root); for any other
    strategy it is the plain dominator tree from the image roots.

    Example:
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([{"path": "/nix/store/a-x-1", "narSize": 5, "closureSize": 5}])
        >>> t = strategy_tree(get_strategy("nixery", size_threshold=1), g)
        >>> t.idom, t.big, len(t.layers)
        ((1,), (0,), 1)
    """
    from .strategies.base import Context
    from .strategies.nixery import Nixery, immediate_dominators

    context = context if context is not None else Context()
    layers = tuple(strategy.group(graph, context, budget))
    if isinstance(strategy, Nixery):
        a = strategy.analyse(graph, context)
        return StrategyTree(layers, tuple(a.split.idom), a.big, a.popular, a.threshold)
    idom = immediate_dominators(len(graph.paths), graph.refs, graph.roots)
    return StrategyTree(layers, tuple(idom))


def dominator_tree(
    graph: ClosureGraph,
    layers: Sequence[Layer],
    *,
    idom: Sequence[int] | None = None,
    big: Sequence[int] = (),
    popular: Sequence[int] = (),
    title: str | None = None,
    min_share: float = 0.003,
    max_depth: int = 6,
    label_top: int = 60,
    legend_layers: int = 10,
) -> Figure:
    """The dominator tree of one image as an icicle, coloured by layer.

    Args:
        graph: the image's closure graph (needs ``narSize``).
        layers: the image's layers; a box takes the colour of its path's layer.
        idom: immediate dominators as :func:`layerlab.strategies.nixery.dominator_split`
            returns them (``len(graph)`` for the artificial root).  Default: the
            plain dominator tree from the image roots.
        big: path indices to hatch as big (Nixery's big paths).
        popular: path indices to hatch as popular (Nixery's popular paths).
        title: the axes title (default names the image and the counts).
        min_share: subtrees below this share of the image are pooled per layer.
        max_depth: deepest column drawn.
        label_top: label at most this many boxes, the largest first.
        legend_layers: the largest layers listed in the legend.

    Example:
        >>> g = ClosureGraph.from_records(
        ...     [{"path": "/nix/store/a-app-1", "narSize": 7, "references": ["/nix/store/b-lib-1"]},
        ...      {"path": "/nix/store/b-lib-1", "narSize": 3}])
        >>> fig = dominator_tree(g, [Layer(tuple(g.paths), 10)])
        >>> fig.axes[0].get_xlabel(), len(fig.axes[0].patches)
        ('depth below the image (1 = paths only the image root keeps alive, or hung from it)', 2)
    """
    nar = graph.require_nar_size("the dominator tree plot")
    n = len(graph.paths)
    if idom is None:
        from .strategies.nixery import immediate_dominators

        idom = immediate_dominators(n, graph.refs, graph.roots)
    if len(idom) != n:
        raise ConfigError(f"idom has {len(idom)} entries for a graph of {n} paths", source="dominator_tree")
    colours = layer_colours(layers)
    layer_of = [-1] * n
    index = graph.index
    for li, layer in enumerate(layers):
        for p in layer.paths:
            j = index.get(p)
            if j is not None:
                layer_of[j] = li
    big_set, pop_set = set(big), set(popular)
    all_boxes = icicle_boxes(idom, nar, group_of=layer_of, min_share=min_share, max_depth=max_depth)
    total = all_boxes[0].size if all_boxes else 0
    boxes = [b for b in all_boxes if b.depth > 0]

    fig = _new_figure(13, 8.5)
    ax = fig.add_subplot()
    faces, hatches, alphas = [], [], []
    for b in boxes:
        li = b.group if b.node < 0 else layer_of[b.node]
        faces.append(colours[li] if li >= 0 else "#000000")
        alphas.append(0.55 if b.node < 0 else 1.0)
        kind = ""
        if b.node >= 0:
            isbig, ispop = b.node in big_set, b.node in pop_set
            kind = "big+popular" if isbig and ispop else "big" if isbig else "popular" if ispop else ""
        hatches.append(_HATCH.get(kind))
    bars = ax.barh(
        [b.start + b.size / 2 for b in boxes],
        [0.97] * len(boxes),
        left=[b.depth - 1 for b in boxes],
        height=[b.size for b in boxes],
        color=faces,
        edgecolor="white",
        linewidth=0.4,
        align="center",
        gid="dominator-boxes",
    )
    for patch, hatch, alpha in zip(bars.patches, hatches, alphas):
        patch.set_alpha(alpha)
        if hatch:
            patch.set_hatch(hatch)
            patch.set_edgecolor("#333333")
    # Labels: the largest boxes that are tall enough for a line of text.
    height_pts = fig.get_figheight() * 72 * 0.86
    min_size = total * 9.5 / height_pts if total else math.inf
    labelled = sorted((b for b in boxes if b.size >= min_size), key=lambda b: (-b.size, b.depth, b.start))
    for b in labelled[:label_top]:
        if b.node < 0:
            text = f"{b.count} small paths · {format_bytes(b.size)}"
        else:
            more = f" (+{b.count - 1})" if b.collapsed else ""
            text = f"{_short(graph.paths[b.node], 24)}{more} · {format_bytes(b.size)}"
        ax.text(
            b.depth - 1 + 0.02,
            b.start + b.size / 2,
            text,
            va="center",
            ha="left",
            fontsize=7,
            clip_on=True,
            gid="box-label",
        )
    depth_max = max((b.depth for b in boxes), default=1)
    ax.set_xlim(0, depth_max)
    ax.set_ylim(total, 0)
    ax.set_xticks(np.arange(depth_max) + 0.485, [str(d) for d in range(1, depth_max + 1)])
    ax.yaxis.set_major_formatter(_BYTES)
    ax.set_xlabel("depth below the image (1 = paths only the image root keeps alive, or hung from it)")
    ax.set_ylabel("bytes of the dominated subtree (narSize)")
    ax.set_title(
        title
        or f"Dominator tree of {graph.name or 'the image'}: {n:,} paths, {format_bytes(total)}, {len(layers)} layers"
    )
    ax.spines[["top", "right"]].set_visible(False)
    # Legend: hatching, then the largest layers.
    handles = [
        Patch(facecolor="white", edgecolor="#333333", hatch=_HATCH["big"], label="big path"),
        Patch(facecolor="white", edgecolor="#333333", hatch=_HATCH["popular"], label="popular path"),
        Patch(facecolor="white", edgecolor="#333333", hatch=_HATCH["big+popular"], label="big and popular"),
        Patch(facecolor="#bbbbbb", alpha=0.55, label="small subtrees, pooled"),
    ]
    order = sorted(range(len(layers)), key=lambda i: (-(layers[i].size or 0), i))
    for li in order[:legend_layers]:
        lay = layers[li]
        head = _short(lay.root, 24) if lay.root else lay.reason or "layer"
        handles.append(Patch(facecolor=colours[li], label=f"layer {li}: {head} · {format_bytes(lay.size or 0)}"))
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        title="hatching / largest layers",
        title_fontsize=7,
    )
    return fig


# ------------------------------------------------------------------ layer sizes
def layer_sizes(layers: Sequence[Layer], *, title: str | None = None, log: bool = True) -> Figure:
    """One bar per layer, in manifest order, coloured by why the layer exists.

    Example:
        >>> fig = layer_sizes([Layer(("a",), 10, reason="big"), Layer(("b",), 1, reason="merged")])
        >>> len(fig.axes[0].patches), fig.axes[0].get_ylabel()
        (2, 'layer size')
    """
    fig = _new_figure(10, 3.6)
    ax = fig.add_subplot()
    sizes = [layer.size or 0 for layer in layers]
    reasons = [layer.reason or "layer" for layer in layers]
    palette = reason_colours(reasons)
    colours = [palette[r] for r in reasons]
    ax.bar(range(len(layers)), sizes, color=colours, width=0.85, gid="layer-bars")
    if log and any(sizes):
        ax.set_yscale("log")
        ax.set_ylim(max(1, min(s for s in sizes if s) / 2), max(sizes) * 2)
    ax.yaxis.set_major_formatter(_BYTES)
    step = max(1, math.ceil(len(layers) / 24))
    ax.set_xticks(range(0, len(layers), step))
    ax.set_xlim(-0.6, max(len(layers), 1) - 0.4)
    ax.set_xlabel("layer (manifest order)")
    ax.set_ylabel("layer size")
    total = sum(sizes)
    largest = max(sizes, default=0)
    share = f", largest {largest / total:.0%}" if total else ""
    ax.set_title(title or f"{len(layers)} layers, {format_bytes(total)}{share}")
    seen = dict.fromkeys(reasons)
    ax.legend(handles=[Patch(facecolor=palette[r], label=r) for r in seen], fontsize=7, loc="upper right")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def layer_stack(configs: Mapping[str, Sequence[Layer]], *, title: str = "Layer sizes") -> Figure:
    """One horizontal stacked bar per configuration; each segment is a layer, largest first.

    Example:
        >>> fig = layer_stack({"a": [Layer(("x",), 3), Layer(("y",), 1)], "b": [Layer(("x", "y"), 4)]})
        >>> len(fig.axes[0].patches), [t.get_text() for t in fig.axes[0].get_yticklabels()]
        (3, ['a', 'b'])
    """
    fig = _new_figure(10, 0.9 + 0.55 * max(1, len(configs)))
    ax = fig.add_subplot()
    labels = list(configs)
    for row, label in enumerate(labels):
        layers = configs[label]
        sizes = sorted((layer.size or 0 for layer in layers), reverse=True)
        colours = layer_colours(sorted(layers, key=lambda lay: -(lay.size or 0)))
        left = np.cumsum(sizes, dtype=np.int64) - np.asarray(sizes, dtype=np.int64)  # where each segment starts
        ax.barh([row] * len(sizes), sizes, left=left, color=colours, edgecolor="white", linewidth=0.5, height=0.7)
        ax.text(sum(sizes), row, f"  {len(layers)} layers", va="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_BYTES)
    ax.set_xlabel("bytes (each segment is one layer, largest first)")
    ax.set_title(title)
    ax.margins(x=0.12)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


# --------------------------------------------------------------------- overlap
def overlap_order(matrix: Any, how: str = "cluster") -> list[int]:
    """Row order for an image x image matrix: ``cluster``, ``size`` or ``given``.

    ``cluster`` is average-linkage agglomerative clustering (UPGMA; Sokal and
    Michener, "A statistical method for evaluating systematic relationships",
    1958) on the symmetrised off-diagonal values as similarities, leaves read
    left to right with the larger cluster first, so images that share much sit
    next to each other; ties are broken by position.  ``size`` sorts by row
    total (off-diagonal), largest first; ``given`` keeps the order.

    Example:
        >>> overlap_order([[1, 0, .9], [0, 1, 0], [.9, 0, 1]])
        [0, 2, 1]
        >>> overlap_order([[1, .1, .2], [.1, 1, .9], [.2, .9, 1]], "size")  # row totals 0.3, 1.0, 1.1
        [2, 1, 0]
    """
    data = np.nan_to_num(np.asarray(matrix, dtype=float))
    k = data.shape[0]
    if how == "given" or k <= 2 and how == "cluster":
        return list(range(k))
    sim = (data + data.T) / 2
    np.fill_diagonal(sim, 0)
    if how == "size":
        totals = sim.sum(axis=1)
        return sorted(range(k), key=lambda i: (-totals[i], i))
    if how != "cluster":
        raise ConfigError(f"order must be cluster, size or given, not {how!r}", source="overlap_heatmap")
    clusters: dict[int, list[int]] = {i: [i] for i in range(k)}
    while len(clusters) > 1:
        keys = sorted(clusters)
        best = None
        for x in range(len(keys)):
            for y in range(x + 1, len(keys)):
                a, b = clusters[keys[x]], clusters[keys[y]]
                avg = float(sim[np.ix_(a, b)].mean())
                if best is None or avg > best[0]:
                    best = (avg, keys[x], keys[y])
        assert best is not None
        _, ka, kb = best
        a, b = clusters.pop(ka), clusters.pop(kb)
        clusters[min(ka, kb)] = a + b if len(a) >= len(b) else b + a
    return next(iter(clusters.values()))


def overlap_heatmap(
    matrix: Any,
    names: Sequence[str] | None = None,
    *,
    title: str = "Shared bytes between images",
    value_label: str = "share of the row image's bytes",
    annotate: bool | None = None,
    as_bytes: bool = False,
    bytes_matrix: Any = None,
    order: str = "cluster",
) -> Figure:
    """A square matrix (image x image) as a heatmap with the image names on both axes.

    ``matrix`` is a 2-D array or a pandas DataFrame (its index gives the
    names).  Rows and columns are ordered by :func:`overlap_order` (``cluster``
    by default: images that share much sit together).  The diagonal (an image
    with itself) is drawn hatched grey and labelled ``self``, apart from the
    real pairs.  Cells are annotated when there are at most 16 images; with
    ``bytes_matrix`` (same shape, e.g. the shared bytes behind a share) each
    annotation gives the value and the bytes.  The figure stays within about
    8.5 inches square whatever the number of images.

    Example:
        >>> fig = overlap_heatmap([[1.0, 0.5], [0.25, 1.0]], ["nginx", "curl"], order="given")
        >>> [t.get_text() for t in fig.axes[0].get_xticklabels()], [t.get_text() for t in fig.axes[0].texts]
        (['nginx', 'curl'], ['self', '0.50', '0.25', 'self'])
    """
    if names is None and hasattr(matrix, "index"):
        names = [str(x) for x in matrix.index]
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2 or data.shape[0] != data.shape[1]:
        raise ConfigError(f"overlap matrix must be square, got shape {data.shape}", source="overlap_heatmap")
    k = data.shape[0]
    names = list(names) if names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ConfigError(f"{len(names)} names for a {k}x{k} matrix", source="overlap_heatmap")
    extra = None if bytes_matrix is None else np.asarray(bytes_matrix, dtype=float)
    if extra is not None and extra.shape != data.shape:
        raise ConfigError(f"bytes matrix of shape {extra.shape} for a {k}x{k} matrix", source="overlap_heatmap")
    perm = overlap_order(data, order)
    data = data[np.ix_(perm, perm)]
    names = [names[i] for i in perm]
    if extra is not None:
        extra = extra[np.ix_(perm, perm)]
    side = min(8.5, 3 + 0.3 * k)
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    cmap = LinearSegmentedColormap.from_list("overlap", ["#ffffff", "#a0cbe8", "#4e79a7", "#1d3557"])
    off = data[~np.eye(k, dtype=bool)] if k > 1 else data.ravel()
    top_off = float(np.nanmax(off)) if off.size else 1.0
    vmax = None if as_bytes else max(1.0, top_off)
    if as_bytes and top_off > 0:
        vmax = top_off
    im = ax.imshow(data, cmap=cmap, aspect="equal", interpolation="nearest", vmin=0, vmax=vmax)
    for i in range(k):
        corner = (i - 0.5, i - 0.5)
        diagonal = Rectangle(corner, 1, 1, facecolor="#d9d9d9", edgecolor="#9d9d9d", hatch="////", linewidth=0.5)
        ax.add_patch(diagonal)
    fontsize = 8 if k <= 30 else 6
    ax.set_xticks(range(k), names, rotation=60, ha="right", rotation_mode="anchor", fontsize=fontsize)
    ax.set_yticks(range(k), names, fontsize=fontsize)
    ax.set_xlabel("image")
    ax.set_ylabel("image")
    ax.set_title(title)
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label(value_label)
    if as_bytes:
        cb.formatter = _BYTES
        cb.update_ticks()
    if annotate is None:
        annotate = k <= 16
    if annotate:
        for i in range(k):
            for j in range(k):
                if i == j:
                    ax.text(j, i, "self", ha="center", va="center", fontsize=7, color="#555555")
                    continue
                v = data[i, j]
                text = format_bytes(v) if as_bytes else f"{v:.2f}"
                if extra is not None:
                    text += "\n" + format_bytes(extra[i, j])
                dark = top_off and v > 0.6 * top_off
                size = 7 if extra is None else 6
                ax.text(j, i, text, ha="center", va="center", fontsize=size, color="white" if dark else "black")
    return fig


# ------------------------------------------------------------------------ pull
def pull_vs_budget(
    curves: Mapping[str, Mapping[int, float]],
    ideal: float,
    *,
    title: str = "Pull bytes against the layer budget",
    ylabel: str = "bytes pulled",
    marks: Mapping[str, tuple[int, float]] | None = None,
) -> Figure:
    """Pull bytes for several strategies as budget lines, with the ideal bound drawn.

    Args:
        curves: strategy label -> {budget: bytes}.
        ideal: the ideal bound (one layer per path); drawn as a dashed line.
        marks: optional labelled points (e.g. the tuned configuration).

    Example:
        >>> fig = pull_vs_budget({"nixery": {10: 3e9, 94: 2e9}}, 1.5e9)
        >>> [l.get_label() for l in fig.axes[0].get_lines()]
        ['nixery', 'ideal (one layer per path)']
    """
    fig = _new_figure(8, 4.6)
    ax = fig.add_subplot()
    budgets: set[int] = set()
    for n, (label, points) in enumerate(curves.items()):
        xs = sorted(points)
        budgets.update(xs)
        # Colour, line style and marker all vary, and markers are hollow, so a line lying on another stays visible.
        ax.plot(
            xs,
            [points[x] for x in xs],
            label=label,
            color=_PALETTE[n % len(_PALETTE)],
            linestyle=_LINESTYLES[n % len(_LINESTYLES)],
            marker=_MARKERS[n % len(_MARKERS)],
            markersize=4 + 1.5 * (n % 3),
            markerfacecolor="none",
            markeredgewidth=1.2,
            linewidth=1.6,
        )
    ax.axhline(ideal, color="black", linestyle="--", linewidth=1.2, label="ideal (one layer per path)")
    for label, (x, y) in (marks or {}).items():
        ax.plot([x], [y], marker="*", markersize=14, color="#d62728", linestyle="none", label=label)
    if budgets and min(budgets) > 0 and max(budgets) / min(budgets) > 20:
        ax.set_xscale("log")
        ticks = sorted(budgets)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    ax.yaxis.set_major_formatter(_BYTES)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("layer budget (maximum layers per image)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


# ----------------------------------------------------------------------- sweep
def sweep_heatmap(
    values: Any,
    x_values: Sequence[float],
    y_values: Sequence[float],
    *,
    x_label: str,
    y_label: str,
    value_label: str = "bytes pulled",
    title: str = "Sweep",
    best: tuple[float, float] | None = None,
    x_bytes: bool = False,
    y_bytes: bool = False,
    values_bytes: bool = True,
    annotate: bool | None = None,
) -> Figure:
    """A grid of results over two thresholds; ``values[i][j]`` is at ``y_values[i]``, ``x_values[j]``.

    ``best`` marks a point (x, y) with a red box.  Cells are annotated when the
    grid has at most 12 x 12 cells.

    Example:
        >>> fig = sweep_heatmap([[1, 2], [3, 4]], [10, 20], [1, 2], x_label="size", y_label="popularity", best=(20, 1))
        >>> fig.axes[0].images[0].get_array().shape, fig.axes[0].get_xlabel()
        ((2, 2), 'size')
    """
    data = np.asarray(values, dtype=float)
    if data.shape != (len(y_values), len(x_values)):
        raise ConfigError(
            f"sweep values have shape {data.shape}, expected ({len(y_values)}, {len(x_values)})", source="sweep_heatmap"
        )
    fig = _new_figure(max(7, 3 + 0.9 * len(x_values)), max(4.5, 2 + 0.5 * len(y_values)))
    ax = fig.add_subplot()
    im = ax.imshow(data, cmap="viridis_r", aspect="auto", interpolation="nearest", origin="lower")
    fx: Callable[[float], str] = format_bytes if x_bytes else _general
    fy: Callable[[float], str] = format_bytes if y_bytes else _general
    ax.set_xticks(range(len(x_values)), [fx(v) for v in x_values], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(y_values)), [fy(v) for v in y_values])
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    cb = fig.colorbar(im, ax=ax)
    cb.set_label(value_label)
    if values_bytes:
        cb.formatter = _BYTES
        cb.update_ticks()
    if annotate is None:
        annotate = len(x_values) <= 12 and len(y_values) <= 12
    if annotate:
        lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        for i in range(len(y_values)):
            for j in range(len(x_values)):
                v = data[i, j]
                text = format_bytes(v) if values_bytes else f"{v:.3g}"
                dark = hi > lo and (v - lo) / (hi - lo) > 0.55
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
    if best is not None:
        bx, by = best
        try:
            j = list(x_values).index(bx)
            i = list(y_values).index(by)
        except ValueError:
            raise ConfigError(f"best point {best} is not on the grid", source="sweep_heatmap") from None
        box = Rectangle(
            (j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=3, label="tuned", gid="tuned"
        )
        ax.add_patch(box)
        ax.set_title(f"{title}\nred box: the tuned point")
    return fig


def pareto_plot(
    points: Mapping[str, tuple[float, float]],
    front: Sequence[str],
    *,
    x_label: str = "first pull (pulled / ideal)",
    y_label: str = "update (re-pulled / renamed)",
    title: str = "First pull against update cost",
    groups: Mapping[str, str] | None = None,
) -> Figure:
    """Labelled points (lower is better on both axes) with the Pareto front drawn as a staircase.

    ``front`` names the non-dominated points (see
    :func:`layerlab.metrics.objective.pareto_front`); they are labelled and
    joined.  ``groups`` maps a point to a legend group (e.g. its budget), one
    colour per group.

    Example:
        >>> fig = pareto_plot({"a": (1.0, 2.0), "b": (1.5, 1.2), "c": (1.6, 2.5)}, ["a", "b"])
        >>> [t.get_text() for t in fig.axes[0].texts], fig.axes[0].get_lines()[0].get_label()
        (['a', 'b'], 'Pareto front')
    """
    fig = _new_figure(8, 5.2)
    ax = fig.add_subplot()
    missing = [k for k in front if k not in points]
    if missing:
        raise ConfigError(f"front point {missing[0]!r} is not among the points", source="pareto_plot")
    names = list(points)
    group_of = {k: (groups or {}).get(k, "") for k in names}
    for n, g in enumerate(dict.fromkeys(group_of.values())):
        members = [k for k in names if group_of[k] == g]
        ax.scatter(
            [points[k][0] for k in members],
            [points[k][1] for k in members],
            s=28,
            color=_PALETTE[n % len(_PALETTE)],
            label=g or "configurations",
            zorder=3,
        )
    on_front = sorted(front, key=lambda k: points[k])
    if on_front:
        xs, ys = [points[k][0] for k in on_front], [points[k][1] for k in on_front]
        ax.step(xs, ys, where="post", color="#d62728", linewidth=1.6, label="Pareto front", zorder=2)
        for k in on_front:
            ax.annotate(k, points[k], textcoords="offset points", xytext=(5, 4), fontsize=7.5)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


# ---------------------------------------------------------------------- output
#: Resolutions :func:`to_png` accepts: beyond 600 dpi a figure becomes hundreds of megabytes of pixels.
MIN_DPI, MAX_DPI = 10, 600


def to_png(fig: Figure, *, dpi: int = 100, compress_level: int = 6) -> bytes:
    """Render a figure with Agg to PNG bytes (no metadata: same figure, same bytes).

    ``compress_level`` (zlib, 0-9) trades size for speed; live widgets use 1.

    Example:
        >>> to_png(layer_sizes([Layer(("a",), 1)]))[:4]
        b'\\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise ConfigError(f"dpi must be a whole number from {MIN_DPI} to {MAX_DPI}, not {dpi!r:.40}", source="--dpi")
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, pil_kwargs={"compress_level": compress_level})
    return buf.getvalue()


def save_png(fig: Figure, path: str, *, dpi: int = 100) -> None:
    """Write ``fig`` as a PNG atomically (temp file + rename).

    Example:
        >>> import os, tempfile
        >>> from matplotlib.figure import Figure
        >>> f = os.path.join(tempfile.mkdtemp(), "fig.png")
        >>> save_png(Figure(figsize=(1, 1)), f)
        >>> open(f, "rb").read(4)[1:]
        b'PNG'
    """
    from .fileio import atomic_write

    atomic_write(path, to_png(fig, dpi=dpi))
