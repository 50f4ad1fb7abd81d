"""Interactive charts for the notebooks: the overlap heat map and pull against budget, with values on hover.

Both return a :class:`PlotlyFigure`: a plain plotly figure dict that displays
in JupyterLab through the ``application/vnd.plotly.v1+json`` renderer shipped
with plotly (no network), and as a small HTML table for static renderers
(``layerlab report``), which have no plotly.js.

* :func:`overlap_figure`: for each pair of images, the share of the bytes they
  share as paths that sit in identical layers; hover gives the share and both
  byte counts.  Rows are ordered by :func:`layerlab.plot.overlap_order`
  (clusters of images that share much sit together), the diagonal is left
  blank on a grey ground, and the height is capped so 30+ images fit a screen.
* :func:`pull_budget_figure`: pull bytes against the budget, one line per
  strategy, each with its own colour, dash pattern and hollow marker so a line
  lying on another stays visible; hover gives every strategy's bytes at a budget.

Example:
    >>> f = pull_budget_figure({"nixery": {10: 3e9, 94: 2e9}, "auto-layer": {10: 3e9, 94: 1.6e9}}, 1.5e9)
    >>> [t["line"]["dash"] for t in f.figure["data"]], f.figure["data"][0]["marker"]["symbol"]
    (['solid', 'dash', 'dot'], 'circle-open')
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..metrics.layering import Layering
from ..metrics.overlap import overlap, overlap_matrix
from ..plot import _PALETTE, overlap_order
from ..units import format_bytes

__all__ = ["PlotlyFigure", "overlap_figure", "pull_budget_figure"]

_DASHES = ("solid", "dash", "dashdot", "longdash", "longdashdot")
_SYMBOLS = (
    "circle-open",
    "square-open",
    "diamond-open",
    "triangle-up-open",
    "x-thin-open",
    "star-open",
    "hexagon-open",
)


class PlotlyFigure:
    """A plotly figure dict with a static HTML fallback; displays itself in a notebook.

    Example:
        >>> f = PlotlyFigure({"data": [], "layout": {}}, "<p>none</p>")
        >>> sorted(f._repr_mimebundle_())
        ['application/vnd.plotly.v1+json', 'text/html', 'text/plain']
    """

    def __init__(self, figure: dict[str, Any], fallback_html: str) -> None:
        self.figure = figure
        self.fallback_html = fallback_html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "application/vnd.plotly.v1+json": self.figure,
            "text/html": self.fallback_html,
            "text/plain": f"<plotly figure: {self.figure.get('layout', {}).get('title', {}).get('text', '')}>",
        }


def overlap_figure(layering: Layering, *, order: str = "cluster", title: str | None = None) -> PlotlyFigure:
    """The overlap heat map of a layering, with shares and bytes on hover (see the module documentation).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> from layerlab.metrics import layer_imageset
        >>> two = default_imageset().subset(["img-curl", "img-git"])
        >>> f = overlap_figure(layer_imageset(get_strategy("nixery"), two, 30))
        >>> t = f.figure["data"][0]
        >>> t["type"], t["z"][0][0] is None, "identical layers" in t["hovertemplate"]
        ('heatmap', True, True)
    """
    frame, summary = overlap(layering)
    share = overlap_matrix(frame, "layer_share")
    layer_bytes = overlap_matrix(frame, "shared_layer_bytes")
    path_bytes = overlap_matrix(frame, "shared_path_bytes")
    names = [str(x) for x in share.index]
    perm = overlap_order(share.fillna(0).to_numpy(), order)
    names = [names[i] for i in perm]
    s = share.to_numpy(dtype=float)[np.ix_(perm, perm)]
    lb = layer_bytes.to_numpy()[np.ix_(perm, perm)]
    pb = path_bytes.to_numpy()[np.ix_(perm, perm)]
    k = len(names)
    z: list[list[float | None]] = []
    custom: list[list[list[str]]] = []
    for i in range(k):
        z.append([None if i == j or np.isnan(s[i, j]) else round(float(s[i, j]), 4) for j in range(k)])
        custom.append([[format_bytes(lb[i, j]), format_bytes(pb[i, j])] for j in range(k)])
    label = title or f"{layering.label}: share of shared path bytes in identical layers"
    trace = {
        "type": "heatmap",
        "z": z,
        "x": names,
        "y": names,
        "customdata": custom,
        "zmin": 0,
        "zmax": 1,
        "colorscale": [[0, "#ffffff"], [0.35, "#a0cbe8"], [0.7, "#4e79a7"], [1, "#1d3557"]],
        "colorbar": {"title": {"text": "share"}, "tickformat": ".0%"},
        "hovertemplate": (
            "<b>%{y} and %{x}</b><br>%{z:.0%} of the bytes they share sit in identical layers<br>"
            "identical layers: %{customdata[0]}<br>shared paths: %{customdata[1]}<extra></extra>"
        ),
        "xgap": 1,
        "ygap": 1,
    }
    height = min(720, 160 + 20 * k)
    figure = {
        "data": [trace],
        "layout": {
            "title": {"text": label, "font": {"size": 13}},
            "height": height,
            "width": height + 120,
            "plot_bgcolor": "#d9d9d9",
            "margin": {"l": 120, "r": 20, "t": 40, "b": 110},
            "xaxis": {"tickangle": -60, "tickfont": {"size": 10}, "showgrid": False},
            "yaxis": {"autorange": "reversed", "tickfont": {"size": 10}, "showgrid": False},
        },
        "config": {"displaylogo": False},
    }
    pairs = sorted(
        (
            (float(s[i, j]), names[i], names[j], lb[i, j], pb[i, j])
            for i in range(k)
            for j in range(i + 1, k)
            if pb[i, j] > 0
        ),
        key=lambda r: (r[0], -r[4]),
    )[:10]
    rows = "".join(
        f"<tr><td>{html.escape(a)} and {html.escape(b)}</td><td>{v:.0%}</td>"
        f"<td>{format_bytes(x)}</td><td>{format_bytes(y)}</td></tr>"
        for v, a, b, x, y in pairs
    )
    fallback = (
        f"<p>{html.escape(label)}: over all pairs {summary['layer_share']:.0%} of the shared path bytes "
        "sit in identical layers. "
        "The pairs that lose most:</p><table class='ll-overlap-pairs'><tr><th>pair</th><th>share</th>"
        f"<th>identical layers</th><th>shared paths</th></tr>{rows}</table>"
    )
    return PlotlyFigure(figure, fallback)


def pull_budget_figure(
    curves: Mapping[str, Mapping[int, float]], ideal: float, *, title: str = "Pull bytes against the layer budget"
) -> PlotlyFigure:
    """Pull bytes against the budget per strategy, with the ideal bound (see the module documentation).

    Example:
        >>> f = pull_budget_figure({"nixery": {10: 3e9, 94: 2e9}}, 1.5e9)
        >>> [t["name"] for t in f.figure["data"]], "ll-pull-budget" in f.fallback_html
        (['nixery', 'ideal (one layer per path)'], True)
    """
    data: list[dict[str, Any]] = []
    for n, (label, points) in enumerate(curves.items()):
        xs = sorted(points)
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": label,
                "x": xs,
                "y": [points[x] for x in xs],
                "text": [format_bytes(points[x]) for x in xs],
                "line": {"color": _PALETTE[n % len(_PALETTE)], "dash": _DASHES[n % len(_DASHES)], "width": 2},
                "marker": {"symbol": _SYMBOLS[n % len(_SYMBOLS)], "size": 8 + 2 * (n % 3), "line": {"width": 1.5}},
                "hovertemplate": f"{html.escape(label)}: %{{text}}<extra></extra>",
            }
        )
    budgets = sorted({b for points in curves.values() for b in points})
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "ideal (one layer per path)",
            "x": [budgets[0], budgets[-1]] if budgets else [],
            "y": [ideal, ideal] if budgets else [],
            "line": {"color": "#000000", "dash": "dot", "width": 1.5},
            "hovertemplate": f"ideal: {format_bytes(ideal)}<extra></extra>",
        }
    )
    wide = bool(budgets) and budgets[0] > 0 and budgets[-1] / budgets[0] > 20
    figure = {
        "data": data,
        "layout": {
            "title": {"text": title, "font": {"size": 13}},
            "height": 440,
            "hovermode": "x unified",
            "xaxis": {
                "title": {"text": "layer budget (maximum layers per image)"},
                "type": "log" if wide else "linear",
                "tickvals": budgets,
            },
            "yaxis": {"title": {"text": "bytes pulled"}, "rangemode": "tozero"},
            "margin": {"l": 70, "r": 20, "t": 40, "b": 50},
        },
        "config": {"displaylogo": False},
    }
    head = "".join(f"<th>{b}</th>" for b in budgets)
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td>{format_bytes(points[b]) if b in points else ''}</td>" for b in budgets)
        + "</tr>"
        for label, points in curves.items()
    )
    fallback = (
        f"<p>{html.escape(title)} (ideal {format_bytes(ideal)})</p>"
        f"<table class='ll-pull-budget'><tr><th>budget</th>{head}</tr>{rows}</table>"
    )
    return PlotlyFigure(figure, fallback)
