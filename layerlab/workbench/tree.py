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
  text too small to read is hidden, which keeps a 1,000-path tree readable.
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
    ('icicle', ['image', 'p0', 'p1'], ['', 'image', 'image'], [12, 5, 7])
"""

from __future__ import annotations

from typing import Any

from ..metrics.explain import GroupingFacts
from ..plot import CATCH_ALL_REASONS, layer_colour
from ..units import format_bytes

__all__ = ["icicle_figure", "path_id"]


def path_id(index: int) -> str:
    """The box id of path ``index`` in :func:`icicle_figure` (``p<index>``).

    Example:
        >>> path_id(12)
        'p12'
    """
    return f"p{index}"


def icicle_figure(
    facts: GroupingFacts, *, highlight: int | None = None, maxdepth: int = 5, height: int = 560, title: str | None = None
) -> dict[str, Any]:
    """The icicle of ``facts`` as a plotly figure dict (see the module documentation)."""
    g = facts.graph
    n = len(g)
    nar = g.nar_size or tuple(0 for _ in range(n))
    big = set(facts.big)
    popular = set(facts.popular)
    layer_col = [layer_colour(layer) for layer in facts.layers]
    ids = ["image"]
    parents = [""]
    labels = [g.name or "image"]
    values = [sum(facts.kept_alive[i] for i in range(n) if facts.idom[i] in (n, -1))]
    colours = ["#ffffff"]
    custom: list[list[Any]] = [[g.name or "image", format_bytes(0), format_bytes(values[0]), "", "the whole image", ""]]
    for i in range(n):
        d = facts.idom[i]
        ids.append(f"p{i}")
        parents.append("image" if d in (n, -1) else f"p{d}")
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
        custom.append([
            g.names[i],
            format_bytes(nar[i]),
            format_bytes(facts.kept_alive[i]),
            f"layer {pos}",
            f"{kind}{layer.reason}, {format_bytes(layer.size or 0)}, {len(layer.paths)} paths",
            ", ".join(flags) or "-",
        ])
    line_width = [0.5] * len(ids)
    line_colour = ["#ffffff"] * len(ids)
    level = ""
    if highlight is not None and 0 <= highlight < n:
        line_width[highlight + 1] = 4
        line_colour[highlight + 1] = "#000000"
        level = parents[highlight + 1]
    trace: dict[str, Any] = {
        "type": "icicle",
        "ids": ids,
        "parents": parents,
        "labels": labels,
        "values": values,
        "branchvalues": "total",
        "customdata": custom,
        "marker": {"colors": colours, "line": {"width": line_width, "color": line_colour}},
        "hovertemplate": (
            "<b>%{customdata[0]}</b><br>own %{customdata[1]}, keeps %{customdata[2]} alive<br>"
            "%{customdata[3]}: %{customdata[4]}<br>flags: %{customdata[5]}<extra></extra>"
        ),
        "texttemplate": "%{label}<br>%{customdata[2]}",
        "tiling": {"orientation": "h"},
        "pathbar": {"visible": True, "side": "top"},
        "maxdepth": maxdepth,
        "sort": True,
        "leaf": {"opacity": 1},
    }
    if level:
        trace["level"] = level
    return {
        "data": [trace],
        "layout": {
            "height": height,
            "margin": {"l": 4, "r": 4, "t": 36 if title else 8, "b": 4},
            "uniformtext": {"minsize": 9, "mode": "hide"},
            "title": {"text": title or "", "font": {"size": 13}},
            "hoverlabel": {"font": {"size": 12}},
        },
        "config": {"displaylogo": False, "responsive": True},
    }
