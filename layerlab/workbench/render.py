"""Drawing the workbench panels: the chart as inline SVG or a matplotlib figure, summaries as HTML.

:func:`chart_svg` turns outcomes into the panel's chart (layer sizes of the
displayed image, cumulative pull bytes against the ideal bound) as inline SVG,
and :func:`summary_html` / :func:`layer_table_html` into HTML.  Building the
SVG text is cheap and the browser draws it; a matplotlib redraw of the same
chart costs far more, which alone would break the 300 ms target of a slider
move (``benchmarks/bench_widget.py`` measures both).
:class:`PanelFigure` draws the same chart with matplotlib, into one persistent
figure whose axes are reused, for files.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.workbench.compute import Config, evaluate
    >>> out = evaluate(default_imageset().subset(["img-curl"]), Config("nixery", budget=3))
    >>> chart_svg([("A", out)]).count('class="ll-bar"')
    3
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from matplotlib.ticker import MaxNLocator, NullLocator

from ..plot import _BYTES, _PALETTE, _REASON_COLOUR, format_bytes, layer_colour, layer_colours, to_png
from ..strategies.base import Layer
from .compute import Outcome

__all__ = [
    "PanelFigure",
    "render",
    "chart_svg",
    "summary_html",
    "layer_table_html",
    "tree_summary_html",
    "explanation_html",
    "flags_table_html",
    "merges_table_html",
    "browser_html",
    "diff_html",
    "built_browser_html",
]


class PanelFigure:
    """The panel's chart: layer sizes of the displayed image (left), cumulative pull (right).

    The figure, its axes, their scales, tick formatters and labels are set up
    once; a redraw only replaces the bars, moves the lines and updates
    limits, titles and legends.  Clearing the axes instead would rebuild every
    tick and more than double the time of a slider move.  With one outcome the
    left axes show one bar per layer (log scale, coloured by reason); with
    several, one stacked bar per outcome.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.workbench.compute import Config, evaluate
        >>> out = evaluate(default_imageset().subset(["img-curl", "img-git"]), Config("nixery", budget=5), "img-git")
        >>> pf = PanelFigure(); png = pf.render([("A", out)])
        >>> png[:4], len(pf.sizes_ax.patches), pf.sizes_ax.get_title()
        (b'\\x89PNG', 5, 'img-git: 5 layers, largest 45%')
    """

    def __init__(self, width: float = 11.0, height: float = 3.6) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        # Fixed margins: a layout engine would lay the figure out on every
        # redraw, which costs more than the drawing itself.
        self.figure = Figure(figsize=(width, height), dpi=90)
        FigureCanvasAgg(self.figure)
        self.sizes_ax, self.pull_ax = self.figure.subplots(1, 2, width_ratios=(1.35, 1))
        self.figure.subplots_adjust(left=0.085, right=0.985, bottom=0.14, top=0.91, wspace=0.2)
        self._mode = ""
        self._bars: list[Any] = []
        self._texts: list[Any] = []
        self._lines: list[Any] = []
        self._legend: Any = None
        ax = self.pull_ax
        ax.set_xlabel("images pulled (set order)")
        ax.yaxis.set_major_formatter(_BYTES)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        self.sizes_ax.spines[["top", "right"]].set_visible(False)

    def _setup_sizes(self, mode: str) -> None:
        if mode == self._mode:
            return
        ax = self.sizes_ax
        ax.cla()
        ax.spines[["top", "right"]].set_visible(False)
        if mode == "single":
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(_BYTES)
            ax.yaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
            ax.set_xlabel("layer (manifest order)")
            ax.set_ylabel("layer size")
        else:
            ax.xaxis.set_major_formatter(_BYTES)
            ax.set_xlabel("bytes (one segment per layer, largest first)")
        self._mode = mode
        self._bars, self._texts = [], []

    def draw(self, outcomes: Sequence[tuple[str, Outcome]]) -> None:
        """Redraw both axes for ``outcomes`` (label, outcome).

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.workbench.compute import Config, evaluate
            >>> out = evaluate(default_imageset().subset(["img-curl"]), Config("nixery", budget=3))
            >>> pf = PanelFigure(); pf.draw([("A", out)]); len(pf.sizes_ax.patches)
            3
        """
        self._setup_sizes("single" if len(outcomes) == 1 else "stack")
        ax = self.sizes_ax
        for artist in self._bars + self._texts:
            artist.remove()
        self._bars, self._texts = [], []
        if len(outcomes) == 1:
            _, out = outcomes[0]
            sizes = [layer.size or 0 for layer in out.layers]
            colours = [_REASON_COLOUR.get(layer.reason, "#76b7b2") for layer in out.layers]
            self._bars.append(ax.bar(range(len(sizes)), sizes, color=colours, width=0.85))
            positive = [x for x in sizes if x]
            if positive:
                ax.set_ylim(max(1, min(positive) / 2), max(positive) * 2)
            ax.set_xlim(-0.6, max(len(sizes), 1) - 0.4)
            # The colours are explained by the panel's HTML legend (no legend
            # artist: text is what a redraw spends most of its time on).
            ax.set_title(f"{out.image}: {len(sizes)} layers, largest {out.largest_share:.0%}", fontsize=10)
        else:
            widest = 0
            for row, (_label, out) in enumerate(outcomes):
                ordered = sorted(out.layers, key=lambda layer: -(layer.size or 0))
                sizes = [layer.size or 0 for layer in ordered]
                lefts = [0]
                for x in sizes[:-1]:
                    lefts.append(lefts[-1] + x)
                self._bars.append(
                    ax.barh(
                        [row] * len(sizes),
                        sizes,
                        left=lefts,
                        color=layer_colours(ordered),
                        edgecolor="white",
                        linewidth=0.4,
                        height=0.7,
                    )
                )
                total = sum(sizes)
                widest = max(widest, total)
                self._texts.append(ax.text(total, row, f" {len(sizes)} layers", va="center", fontsize=8))
            ax.set_yticks(range(len(outcomes)), [label for label, _ in outcomes])
            ax.set_ylim(len(outcomes) - 0.5, -0.5)
            ax.set_xlim(0, max(widest, 1) * 1.18)
            ax.set_title(f"{outcomes[0][1].image}: layers", fontsize=10)

        ax = self.pull_ax
        first = outcomes[0][1]
        xs = list(range(1, len(first.cumulative) + 1))
        series = [
            (("pulled" if len(outcomes) == 1 else label), out.cumulative, out.pulled_bytes) for label, out in outcomes
        ]
        series.append(("ideal", first.cumulative_ideal, first.ideal_bytes))
        while len(self._lines) < len(series):
            n = len(self._lines)
            self._lines.append(ax.plot([], [], color=_PALETTE[n], marker="o", markersize=2.5)[0])
        for n, (line, (name, ys, total)) in enumerate(zip(self._lines, series)):
            line.set_data(xs, ys)
            line.set_label(f"{name}: {format_bytes(total)}")
            if n == len(series) - 1:
                line.set(color="black", linestyle="--", linewidth=1, marker="")
        top = max((max(ys, default=0) for _, ys, _ in series), default=0)
        ax.set_xlim(0.5, max(len(xs), 1) + 0.5)
        ax.set_ylim(0, max(top, 1) * 1.05)
        ax.set_ylabel(f"cumulative bytes pulled ({first.config.rule})")
        if self._legend is None or len(self._legend.get_texts()) != len(series):
            self._legend = ax.legend(handles=self._lines[: len(series)], fontsize=8, loc="upper left")
        for text, line in zip(self._legend.get_texts(), self._lines):
            text.set_text(line.get_label())
        ax.set_title(f"pull cost over {first.layering.imageset.name} ({len(xs)} images)", fontsize=10)

    def render(self, outcomes: Sequence[tuple[str, Outcome]]) -> bytes:
        """Redraw and return the PNG.

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.workbench.compute import Config, evaluate
            >>> out = evaluate(default_imageset().subset(["img-curl"]), Config("nixery", budget=3))
            >>> PanelFigure().render([("A", out)])[:4]
            b'\\x89PNG'
        """
        self.draw(outcomes)
        return to_png(self.figure, dpi=90, compress_level=1)


_DASHES = ("", ' stroke-dasharray="8,3"', ' stroke-dasharray="8,3,2,3"')


def _packages(layer: Layer, top: int = 4) -> str:
    """The names of a layer's first path and its largest others, for hover text."""
    from ..graph import store_name

    names = [store_name(p) for p in layer.paths]
    head = store_name(layer.root) if layer.root else None
    shown = ([head] if head else []) + [n for n in names if n != head][: top - (1 if head else 0)]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _ticks(lo: float, hi: float, *, log: bool = False, n: int = 6) -> list[float]:
    """Round tick positions in [lo, hi] (matplotlib's locators, without drawing anything)."""
    from matplotlib.ticker import LogLocator

    if log:
        values = LogLocator(base=10, numticks=n + 2).tick_values(max(lo, 1), max(hi, 1))
    else:
        values = MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    return [float(v) for v in values if lo <= v <= hi]


def chart_svg(outcomes: Sequence[tuple[str, Outcome]], *, width: int = 1000, height: int = 330) -> str:
    """The panel chart as inline SVG: layer sizes of the displayed image (left), cumulative pull (right).

    The live panel draws this instead of a matplotlib PNG: building the SVG
    text is cheap and the browser renders it, where a matplotlib redraw is
    not (``benchmarks/bench_widget.py``).  Same content as
    :class:`PanelFigure`, which stays available for files and reports.  Bars
    carry ``class="ll-bar"``, the pull lines ``class="ll-line"``.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.workbench.compute import Config, evaluate
        >>> out = evaluate(default_imageset().subset(["img-curl", "img-git"]), Config("nixery", budget=5), "img-git")
        >>> svg = chart_svg([("A", out)])
        >>> svg.count('class="ll-bar"'), svg.count('class="ll-line"')
        (5, 2)
    """
    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ll-chart-svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, sans-serif" font-size="11">'
    ]
    top, bottom = 28, height - 42
    # ---- left: layer sizes
    l0, l1 = 78, int(width * 0.56)
    first = outcomes[0][1]
    parts.append(
        f'<line x1="{l0}" y1="{bottom}" x2="{l1}" y2="{bottom}" stroke="#333"/>'
        f'<line x1="{l0}" y1="{top}" x2="{l0}" y2="{bottom}" stroke="#333"/>'
    )
    if len(outcomes) == 1:
        sizes = [layer.size or 0 for layer in first.layers]
        positive = [x for x in sizes if x] or [1]
        lo, hi = max(1.0, min(positive) / 2), max(positive) * 2.0
        llo, lhi = math.log10(lo), math.log10(hi)

        def y_of(v: float) -> float:
            return bottom - (math.log10(max(v, lo)) - llo) / (lhi - llo) * (bottom - top)

        for t in _ticks(lo, hi, log=True):
            y = y_of(t)
            parts.append(
                f'<line x1="{l0 - 4}" y1="{y:.1f}" x2="{l0}" y2="{y:.1f}" stroke="#333"/>'
                f'<text x="{l0 - 7}" y="{y + 4:.1f}" text-anchor="end">{format_bytes(t)}</text>'
            )
        n = max(len(sizes), 1)
        step = (l1 - l0 - 8) / n
        for i, (layer, v) in enumerate(zip(first.layers, sizes)):
            x = l0 + 4 + i * step
            y = y_of(v)
            colour = _REASON_COLOUR.get(layer.reason, "#76b7b2")
            tip = esc(f"layer {i}: {format_bytes(v)}, {len(layer.paths)} paths, {layer.reason}\n{_packages(layer)}")
            parts.append(
                f'<rect class="ll-bar" x="{x + step * 0.08:.1f}" y="{y:.1f}" width="{step * 0.84:.1f}" '
                f'height="{bottom - y:.1f}" fill="{colour}"><title>{tip}</title></rect>'
            )
        for t in _ticks(0, n - 1, n=10):
            if float(t).is_integer():
                x = l0 + 4 + (t + 0.5) * step
                parts.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{int(t)}</text>')
        parts.append(
            f'<text x="{(l0 + l1) / 2:.0f}" y="{bottom + 32}" text-anchor="middle">layer (manifest order)</text>'
        )
        parts.append(
            f'<text x="14" y="{(top + bottom) / 2:.0f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(top + bottom) / 2:.0f})">layer size</text>'
        )
        title = f"{first.image}: {len(sizes)} layers, largest {first.largest_share:.0%}"
        reasons = list(dict.fromkeys(layer.reason for layer in first.layers))
        x = l1 - 8
        for r in reversed(reasons):  # legend, right-aligned along the top
            w = 16 + 7 * len(r)
            x -= w
            parts.append(
                f'<rect x="{x}" y="{top + 2}" width="10" height="10" fill="{_REASON_COLOUR.get(r, "#76b7b2")}"/>'
                f'<text x="{x + 13}" y="{top + 11}" font-size="10">{esc(r)}</text>'
            )
    else:
        widest = max(sum(layer.size or 0 for layer in o.layers) for _, o in outcomes) or 1
        xmax = widest * 1.18
        span = l1 - l0

        def x_of(v: float) -> float:
            return l0 + v / xmax * span

        for t in _ticks(0, xmax):
            x = x_of(t)
            parts.append(
                f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333"/>'
                f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{format_bytes(t)}</text>'
            )
        rows = len(outcomes)
        band = (bottom - top) / rows
        for row, (label, out) in enumerate(outcomes):
            ordered = sorted(out.layers, key=lambda layer: -(layer.size or 0))
            colours = [layer_colour(layer) for layer in ordered]
            y = top + row * band + band * 0.15
            h = band * 0.7
            left = 0
            for layer, colour in zip(ordered, colours):
                v = layer.size or 0
                tip = esc(f"{label}: {format_bytes(v)}, {len(layer.paths)} paths, {layer.reason}\n{_packages(layer)}")
                parts.append(
                    f'<rect class="ll-bar" x="{x_of(left):.1f}" y="{y:.1f}" '
                    f'width="{max(v / xmax * span, 0.5):.1f}" height="{h:.1f}" '
                    f'fill="{colour}" stroke="white" stroke-width="0.4"><title>{tip}</title></rect>'
                )
                left += v
            parts.append(
                f'<text x="{x_of(left) + 4:.1f}" y="{y + h / 2 + 4:.1f}">{len(ordered)} layers</text>'
                f'<text x="{l0 - 8}" y="{y + h / 2 + 4:.1f}" text-anchor="end" font-weight="bold">{esc(label)}</text>'
            )
        parts.append(
            f'<text x="{(l0 + l1) / 2:.0f}" y="{bottom + 32}" text-anchor="middle">'
            "bytes (one segment per layer, largest first)</text>"
        )
        title = f"{first.image}: layers"
    parts.append(f'<text x="{(l0 + l1) / 2:.0f}" y="16" text-anchor="middle" font-size="13">{esc(title)}</text>')

    # ---- right: cumulative pull against the ideal
    r0, r1 = int(width * 0.56) + 80, width - 12
    parts.append(
        f'<line x1="{r0}" y1="{bottom}" x2="{r1}" y2="{bottom}" stroke="#333"/>'
        f'<line x1="{r0}" y1="{top}" x2="{r0}" y2="{bottom}" stroke="#333"/>'
    )
    k = len(first.cumulative)
    series = [
        # Each side its own colour and dash pattern, so a line lying on the other stays visible.
        (
            "pulled" if len(outcomes) == 1 else label,
            o.cumulative,
            o.pulled_bytes,
            _PALETTE[n],
            _DASHES[n % len(_DASHES)],
        )
        for n, (label, o) in enumerate(outcomes)
    ]
    series.append(("ideal", first.cumulative_ideal, first.ideal_bytes, "#000000", ' stroke-dasharray="2,3"'))
    ymax = max((max(ys, default=0) for _, ys, _, _, _ in series), default=0) * 1.05 or 1

    def px(i: int) -> float:
        return r0 + (i + 0.5) / max(k, 1) * (r1 - r0)

    def py(v: float) -> float:
        return bottom - v / ymax * (bottom - top)

    for t in _ticks(0, ymax):
        y = py(t)
        parts.append(
            f'<line x1="{r0}" y1="{y:.1f}" x2="{r1}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{r0 - 6}" y="{y + 4:.1f}" text-anchor="end">{format_bytes(t)}</text>'
        )
    for t in _ticks(1, k, n=8):
        if float(t).is_integer():
            parts.append(f'<text x="{px(int(t) - 1):.1f}" y="{bottom + 15}" text-anchor="middle">{int(t)}</text>')
    for n, (name, ys, total, colour, dash) in enumerate(series):
        pts = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(ys))
        parts.append(
            f'<polyline class="ll-line" points="{pts}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>'
        )
        ly = top + 6 + n * 15
        parts.append(
            f'<line x1="{r0 + 10}" y1="{ly}" x2="{r0 + 30}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>'
            f'<text x="{r0 + 35}" y="{ly + 4}" font-size="10">{esc(name)}: {format_bytes(total)}</text>'
        )
    parts.append(
        f'<text x="{(r0 + r1) / 2:.0f}" y="{bottom + 32}" text-anchor="middle">images pulled (set order)</text>'
    )
    rule = "any digest" if first.config.rule == "any" else "ChainID"
    parts.append(
        f'<text x="{(r0 + r1) / 2:.0f}" y="16" text-anchor="middle" font-size="13">'
        f"{esc(f'cumulative pull over {first.layering.imageset.name} ({k} images, {rule})')}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def render(outcomes: Sequence[tuple[str, Outcome]], figure: PanelFigure | None = None) -> bytes:
    """The panel chart as PNG bytes (a fresh figure unless one is given).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.workbench.compute import Config, evaluate
        >>> out = evaluate(default_imageset().subset(["img-curl"]), Config("nixery", budget=3))
        >>> render([("A", out)])[:4]
        b'\\x89PNG'
    """
    return (figure or PanelFigure()).render(outcomes)


def summary_html(outcomes: Sequence[tuple[str, Outcome]]) -> str:
    """The figures of one or more configurations as an HTML table.

    Cells carry CSS classes (``ll-layers``, ``ll-pull``, ``ll-ratio``) so that
    tests and user style sheets can find them.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.workbench.compute import Config, evaluate
        >>> out = evaluate(default_imageset().subset(["img-curl"]), Config("nixery", budget=3))
        >>> 'class="ll-layers">3<' in summary_html([("A", out)])
        True
    """
    first = outcomes[0][1]
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in outcomes)
    rows = [
        ("configuration", "ll-config", lambda o: html.escape(o.config.label())),
        (f"layers of {html.escape(first.image)}", "ll-layers", lambda o: str(o.layer_count)),
        ("largest layer", "ll-largest", lambda o: f"{o.largest_share:.0%}"),
        (
            "distinct layers in the set",
            "ll-set-layers",
            lambda o: str(o.pull.get("distinct_layers", o.layering.layer_count)),
        ),
        (
            f"pull bytes ({first.config.rule}, {len(first.cumulative)} images)",
            "ll-pull",
            lambda o: format_bytes(o.pulled_bytes),
        ),
        ("ideal (one layer per path)", "ll-ideal", lambda o: format_bytes(o.ideal_bytes)),
        ("pull / ideal", "ll-ratio", lambda o: f"{o.ratio:.3f}×"),
    ]
    body = "".join(
        f"<tr><td>{name}</td>" + "".join(f'<td class="{cls}">{fn(o)}</td>' for _, o in outcomes) + "</tr>"
        for name, cls, fn in rows
    )
    return (
        '<table class="ll-summary" style="border-collapse:collapse;font-size:13px">'
        f"<tr><th></th>{head}</tr>{body}</table>"
    )


def layer_table_html(layers: Sequence[Layer], *, top: int = 12) -> str:
    """The largest ``top`` layers as an HTML table (position, size, paths, reason, first path).

    Example:
        >>> layer_table_html([Layer(("/nix/store/a-x",), 5, reason="big", root="/nix/store/a-x")]).count("<tr>")
        2
    """
    order = sorted(range(len(layers)), key=lambda i: (-(layers[i].size or 0), i))[:top]
    total = sum(layer.size or 0 for layer in layers) or 1
    rows = []
    for i in order:
        layer = layers[i]
        head = layer.root or layer.paths[0]
        name = head.rsplit("/", 1)[-1].split("-", 1)[-1]
        rows.append(
            f"<tr><td>{i}</td><td>{format_bytes(layer.size or 0)}</td><td>{(layer.size or 0) / total:.1%}</td>"
            f"<td>{len(layer.paths)}</td><td>{html.escape(layer.reason)}</td><td>{html.escape(name)}</td></tr>"
        )
    more = (
        f"<caption style='caption-side:bottom'>{len(layers) - len(order)} smaller layers not shown</caption>"
        if len(layers) > len(order)
        else ""
    )
    return (
        '<table class="ll-layer-table" style="font-size:12px">'
        "<tr><th>layer</th><th>size</th><th>share</th><th>paths</th><th>reason</th><th>first path</th></tr>"
        + "".join(rows)
        + more
        + "</table>"
    )


# ------------------------------------------------------------- explanations
def _name(path: str | None) -> str:
    from ..graph import store_name

    return store_name(path) if path else ""


def _scroll(inner: str, height: int = 360) -> str:
    return f'<div style="max-height:{height}px;overflow-y:auto;border:1px solid #ddd">{inner}</div>'


def tree_summary_html(facts: Any, label: str) -> str:
    """The tree panel's summary: configuration, paths, big and popular paths, layers, catch-all share.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> from layerlab.metrics.explain import grouping_facts
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([{"path": "/s/a-a-1", "narSize": 5}])
        >>> 'class="ll-layers">1<' in tree_summary_html(grouping_facts(g, get_strategy("nixery")), "nixery")
        True
    """
    from ..plot import CATCH_ALL_REASONS

    total = sum(layer.size or 0 for layer in facts.layers) or 1
    catch_all = sum(layer.size or 0 for layer in facts.layers if layer.reason in CATCH_ALL_REASONS)
    rows = [
        ("configuration", "ll-config", html.escape(label)),
        ("paths", "ll-paths", f"{len(facts.graph):,}"),
        ("big paths", "ll-big", str(len(facts.big)) if facts.size_threshold is not None else "-"),
        ("popular paths", "ll-popular", str(len(facts.popular)) if facts.popularity_threshold is not None else "-"),
        ("layers", "ll-layers", str(len(facts.layers))),
        ("catch-all layer", "ll-catch-all", f"{catch_all / total:.0%} of the image"),
    ]
    return (
        '<table class="ll-summary" style="font-size:13px">'
        + "".join(f'<tr><td>{name}</td><td class="{cls}">{value}</td></tr>' for name, cls, value in rows)
        + "</table>"
    )


def explanation_html(e: Any, others: Sequence[str] = ()) -> str:
    """A :class:`~layerlab.metrics.explain.PathExplanation` as HTML (cells carry ``ll-x-*`` classes).

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> from layerlab.metrics.explain import grouping_facts, explain_path
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([{"path": "/s/a-a-1", "narSize": 5}])
        >>> e = explain_path(grouping_facts(g, get_strategy("nixery", size_threshold=1)), 0)
        >>> 'class="ll-x-reason">big<' in explanation_html(e)
        True
    """
    from ..plot import layer_colour
    from ..strategies.base import Layer

    swatch = layer_colour(Layer((e.path,), e.layer_size, reason=e.layer_reason, root=e.layer_root))
    lines = e.lines()
    rows = [
        ("path", "ll-x-name", f"<b>{html.escape(e.name)}</b> <small>{html.escape(e.path)}</small>"),
        ("sizes", "ll-x-sizes", html.escape(lines[0].split(": ", 1)[1])),
        (
            "layer",
            "ll-x-layer",
            f'<span style="display:inline-block;width:11px;height:11px;background:{swatch}"></span> {e.layer}',
        ),
        ("reason", "ll-x-reason", html.escape(e.layer_reason)),
        (
            "layer holds",
            "ll-x-layer-size",
            f"{format_bytes(e.layer_size)} in {e.layer_paths} paths"
            + (f", first path {html.escape(_name(e.layer_root))}" if e.layer_root else ""),
        ),
        (
            "kept alive by",
            "ll-x-chain",
            " &rarr; ".join(html.escape(_name(p)) for p in e.chain) or "no root reaches it",
        ),
        ("dominator", "ll-x-dominator", html.escape(lines[3].split(": ", 1)[1])),
    ]
    for line in lines[4:]:
        key, _, rest = line.partition(": ")
        if key.startswith("initial layer"):
            rows.append(("initial layer", "ll-x-initial", html.escape(line)))
        else:
            rows.append((key, f"ll-x-{key.replace(' ', '-')}", html.escape(rest)))
    more = f"<div style='font-size:12px'>also matching: {html.escape(', '.join(others))}</div>" if others else ""
    return (
        '<table class="ll-explanation" style="font-size:13px">'
        + "".join(
            f'<tr><td style="vertical-align:top;padding-right:10px">{k}</td><td class="{c}">{v}</td></tr>'
            for k, c, v in rows
        )
        + "</table>"
        + more
    )


def flags_table_html(facts: Any) -> str:
    """Every big or popular path, largest closure first: sizes, popularity, layer and its reason (scrolls, never cut).

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> from layerlab.metrics.explain import grouping_facts
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([{"path": "/s/a-a-1", "narSize": 5}])
        >>> flags_table_html(grouping_facts(g, get_strategy("nixery", size_threshold=1))).count("<tr>")
        2
    """
    if facts.size_threshold is None:
        return "<p>This strategy does not flag big or popular paths.</p>"
    g = facts.graph
    big, popular = set(facts.big), set(facts.popular)
    closure = g.closure_size or facts.sizes
    rows = []
    for i in sorted(big | popular, key=lambda k: (-closure[k], k)):
        pos = facts.layer_of[i]
        rows.append(
            f"<tr><td>{html.escape(g.names[i])}</td><td>{'yes' if i in big else ''}</td>"
            f"<td>{'yes' if i in popular else ''}</td>"
            f"<td>{format_bytes(facts.sizes[i])}</td><td>{facts.pops[i]:,}</td><td>{pos}</td><td>{html.escape(facts.layers[pos].reason)}</td></tr>"
        )
    head = (
        f"<caption style='caption-side:top;text-align:left'>"
        f"{len(big)} big (over {format_bytes(facts.size_threshold)}), "
        f"{len(popular)} popular (at least {facts.popularity_threshold:,})</caption>"
    )
    return _scroll(
        '<table class="ll-flags" style="font-size:12px">'
        + head
        + "<tr><th>path</th><th>big</th><th>popular</th><th>size</th><th>popularity</th><th>layer</th>"
        + "<th>layer reason</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def merges_table_html(facts: Any) -> str:
    """Every initial layer (Nixery) by rating, with its fate: kept, or merged and into which layer (scrolls, never cut).

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> from layerlab.metrics.explain import grouping_facts
        >>> from layerlab.strategies import get_strategy
        >>> g = ClosureGraph.from_records([{"path": "/s/a-a-1", "narSize": 5}, {"path": "/s/b-b-1", "narSize": 3}])
        >>> merges_table_html(grouping_facts(g, get_strategy("nixery"), budget=1)).count("merged into layer 0")
        2
    """
    if facts.rating is None:
        return "<p>This strategy has no initial layers to merge.</p>"
    g = facts.graph
    members: dict[int, list[int]] = {}
    for i, h in enumerate(facts.head):
        if h >= 0:
            members.setdefault(h, []).append(i)
    nar = g.nar_size or tuple(0 for _ in g.paths)
    rows = []
    merged = 0
    for h, r in sorted(facts.rating.items(), key=lambda kv: (-kv[1], kv[0])):
        pos = facts.layer_of[h]
        layer = facts.layers[pos]
        fate = f"merged into layer {pos}" if layer.reason == "merged" else f"kept: layer {pos}"
        merged += layer.reason == "merged"
        rows.append(
            f"<tr><td>{html.escape(g.names[h])}</td><td>{format_bytes(sum(nar[i] for i in members[h]))}</td>"
            f"<td>{len(members[h])}</td><td>{r:,}</td><td>{fate}</td></tr>"
        )
    cap = (
        f"<caption style='caption-side:top;text-align:left'>"
        f"{facts.initial_layers} initial layers, budget {facts.budget}: "
        f"{merged} merged, {len(rows) - merged} kept</caption>"
    )
    return _scroll(
        '<table class="ll-merges" style="font-size:12px">'
        + cap
        + "<tr><th>first path</th><th>bytes</th><th>paths</th><th>rating</th><th>fate</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def browser_html(
    layers: Sequence[Layer], imageset: Any, image: str, *, all_layers: Sequence[Sequence[Layer]] | None = None
) -> str:
    """A layer browser in the spirit of ``dive``: each layer, what it adds, its paths, and which images share it.

    Each layer is a ``<details>`` element: the summary line gives position,
    size, path count, reason and the first path; opened, it lists every path
    with its size.  "identical in" names the other images of the set holding a
    layer with exactly these paths (under ``all_layers``, the same
    configuration's layers of every image); "paths in" counts the images whose
    closure holds all of them (they could share it).

    Example:
        >>> from layerlab.imageset import ImageSet
        >>> from layerlab.graph import ClosureGraph
        >>> from layerlab.strategies.base import Layer
        >>> g = ClosureGraph.from_records([{"path": "/s/a-a-1", "narSize": 5}], name="a")
        >>> browser_html([Layer(("/s/a-a-1",), 5, reason="big")], ImageSet.from_graphs([g]), "a").count("<details")
        1
    """
    names = list(imageset.names)
    graphs = {img.name: img.graph for img in imageset.images}
    identical: dict[frozenset[str], list[str]] = {}
    if all_layers is not None:
        for name, ls in zip(names, all_layers):
            if name == image:
                continue
            for layer in ls:
                identical.setdefault(frozenset(layer.paths), []).append(name)
    g = graphs[image]
    nar = dict(zip(g.paths, g.nar_size or (0,) * len(g)))
    short = dict(zip(g.paths, g.names))
    out = []
    below = 0
    for pos, layer in enumerate(layers):
        size = layer.size or 0
        below += size
        same = identical.get(frozenset(layer.paths), [])
        holders = sum(1 for n, og in graphs.items() if n != image and all(p in og.index for p in layer.paths))
        rows = "".join(
            f"<tr><td>{html.escape(short[p])}</td><td style='text-align:right'>{format_bytes(nar.get(p, 0))}</td></tr>"
            for p in sorted(layer.paths, key=lambda p: (-nar.get(p, 0), p))
        )
        share = (
            f"identical in {len(same)}: {html.escape(', '.join(same[:8]))}{' …' if len(same) > 8 else ''}"
            if same
            else "identical in no other image"
        )
        out.append(
            f'<details class="ll-browse-layer"><summary><b>layer {pos}</b> {format_bytes(size)} '
            f"({len(layer.paths)} paths, {html.escape(layer.reason)}, "
            f"{html.escape(_name(layer.root or layer.paths[0]))}) "
            f"&middot; adds {format_bytes(size)}, image {format_bytes(below)} so far &middot; {share}"
            f"{f' &middot; paths in {holders} other images' if len(names) > 1 else ''}</summary>"
            f'<table style="font-size:12px;margin-left:18px">{rows}</table></details>'
        )
    return _scroll('<div class="ll-browser" style="font-size:12px">' + "".join(out) + "</div>", 420)


def diff_html(d: Any, image: str, labels: tuple[str, str] = ("A", "B")) -> str:
    """A :class:`~layerlab.metrics.diff.LayeringDiff` as HTML: figures (``ll-diff-*`` cells), moved paths of ``image``.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> from layerlab.metrics import layer_imageset
        >>> from layerlab.metrics.diff import diff_layerings
        >>> s = default_imageset().subset(["img-curl"])
        >>> nixery = get_strategy("nixery")
        >>> d = diff_layerings(layer_imageset(nixery, s, 30), layer_imageset(nixery, s, 3))
        >>> 'class="ll-diff-moved"' in diff_html(d, "img-curl")
        True
    """
    a, b = (html.escape(x) for x in labels)
    moved = d.moved_in(image)
    rows = [
        (
            f"paths of {html.escape(image)} that changed layer",
            "ll-diff-moved",
            f"{len(moved):,} ({format_bytes(sum(m.size for m in moved))})",
        ),
        (
            "paths that changed layer, whole set",
            "ll-diff-moved-set",
            f"{len(d.moved):,} ({format_bytes(sum(m.size for m in d.moved))})",
        ),
        (
            f"layer identities ({d.identity}): only {a} / only {b} / both",
            "ll-diff-layers",
            f"{len(d.only_a)} / {len(d.only_b)} / {len(d.common)}",
        ),
        (
            f"holding {html.escape(image)} under {a}, download for {b}: any digest",
            "ll-diff-image-any",
            format_bytes(d.download_image(image, "any")),
        ),
        (
            f"holding {html.escape(image)} under {a}, download for {b}: ChainID",
            "ll-diff-image-chain",
            format_bytes(d.download_image(image, "chain")),
        ),
        (f"holding the set under {a}, download for {b}: any digest", "ll-diff-any", format_bytes(d.download["any"])),
        (f"holding the set under {a}, download for {b}: ChainID", "ll-diff-chain", format_bytes(d.download["chain"])),
    ]
    head = (
        '<table class="ll-diff" style="font-size:13px">'
        + "".join(f'<tr><td>{k}</td><td class="{c}">{v}</td></tr>' for k, c, v in rows)
        + "</table>"
    )
    body = "".join(
        f"<tr><td>{html.escape(_name(m.path))}</td><td style='text-align:right'>{format_bytes(m.size)}</td>"
        f"<td>{m.layer_a} ({html.escape(m.reason_a)})</td><td>{m.layer_b} ({html.escape(m.reason_b)})</td></tr>"
        for m in sorted(moved, key=lambda m: (-m.size, m.path))
    )
    table = (
        f'<table class="ll-diff-paths" style="font-size:12px"><tr><th>path</th><th>size</th><th>layer in {a}</th>'
        f"<th>layer in {b}</th></tr>{body}</table>"
    )
    return head + (_scroll(table, 300) if moved else "<p>No path of this image changed layer.</p>")


def built_browser_html(images: Any, image: str, *, store_dir: str = "/nix/store") -> str:
    """The layer browser for built images (from their tarballs, :func:`layerlab.image.inspect.read_oci_layout`).

    ``images`` maps image name -> its :class:`~layerlab.image.inspect.ImageLayer` list.
    For each layer of ``image``: digest, download (blob) size, what it adds
    (files and content bytes), its store paths with their bytes, and the other
    images that hold the same blob; opened, every file with its size.

    Example:
        >>> from layerlab.image.inspect import ImageLayer, LayerFile
        >>> layer = ImageLayer("sha256:" + "a" * 64, "t", 10, (LayerFile("nix/store/aaa-x/f", 5, "file"),))
        >>> "shared with b" in built_browser_html({"a": [layer], "b": [layer]}, "a")
        True
    """
    holders: dict[str, list[str]] = {}
    for name, layers in images.items():
        for layer in layers:
            holders.setdefault(layer.digest, []).append(name)
    out = []
    total = 0
    for pos, layer in enumerate(images[image]):
        total += layer.blob_size
        others = [n for n in dict.fromkeys(holders[layer.digest]) if n != image]
        paths = layer.store_paths(store_dir)
        files = [f for f in layer.files if f.kind != "dir"]
        path_rows = "".join(
            f"<tr><td>{html.escape(_name(p))}</td><td style='text-align:right'>{format_bytes(b)}</td></tr>"
            for p, b in sorted(paths.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        file_rows = "".join(
            f"<tr><td>{html.escape(f.name)}</td><td>{f.kind}</td>"
            f"<td style='text-align:right'>{format_bytes(f.size)}</td></tr>"
            for f in files[:2000]
        )
        cut = f"<p>{len(files) - 2000} more entries</p>" if len(files) > 2000 else ""
        share = f"shared with {html.escape(', '.join(others))}" if others else "in no other image"
        out.append(
            f'<details class="ll-built-layer"><summary><b>layer {pos}</b> '
            f"<code>{html.escape(layer.digest[:19])}</code> "
            f"download {format_bytes(layer.blob_size)} &middot; adds {len(files):,} entries, "
            f"{format_bytes(layer.content_bytes)} "
            f"&middot; {len(paths)} store paths &middot; {share}</summary>"
            '<table style="font-size:12px;margin-left:18px"><tr><th>store path</th><th>bytes</th></tr>'
            f"{path_rows}</table>"
            '<table style="font-size:11px;margin-left:18px"><tr><th>entry</th><th>type</th><th>size</th></tr>'
            f"{file_rows}</table>{cut}"
            "</details>"
        )
    head = f"<div><b>{html.escape(image)}</b>: {len(images[image])} layers, {format_bytes(total)} to download</div>"
    return _scroll('<div class="ll-browser ll-built" style="font-size:12px">' + head + "".join(out) + "</div>", 420)
