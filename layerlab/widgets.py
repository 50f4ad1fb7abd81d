"""Notebook panels: strategy controls generated from declared parameters, live metrics and charts.

Three layers, so each can be used (and tested, and timed) on its own:

1. **Pure computation.**  A :class:`Config` (strategy name, parameter values,
   budget, cache rule) plus an image set gives an :class:`Outcome` through
   :func:`evaluate`: the layers of every image (:func:`layerlab.metrics.layer_imageset`),
   the pull cost over the set (:func:`layerlab.metrics.pull_cost`) and the
   layers of the image on display.  :class:`Evaluator` memoises outcomes per
   configuration (a bounded, per-panel cache; no global state), so switching
   the displayed image or going back to a previous slider position costs
   nothing.
2. **Drawing.**  :func:`chart_svg` turns outcomes into the panel's chart
   (layer sizes of the displayed image, cumulative pull bytes against the
   ideal bound) as inline SVG, and :func:`summary_html` /
   :func:`layer_table_html` into HTML.  Building the SVG text takes about a
   millisecond and the browser draws it; a matplotlib redraw of the same chart
   costs 100-300 ms on a loaded machine, which alone would break the 300 ms
   target of a slider move (``benchmarks/bench_widget.py`` measures both).
   :class:`PanelFigure` draws the same chart with matplotlib, into one
   persistent figure whose axes are reused, for files (:meth:`TunePanel.figure`).
   Rendered views are memoised per configuration, so going back to an earlier
   slider position costs nothing.
3. **Widgets.**  :func:`param_widget` builds one control from a
   :class:`~layerlab.strategies.base.Param`: byte and log-scaled integer
   parameters become selection sliders over a 1-2-5 grid (log scale, readable
   labels such as ``100 MB``), other numbers plain sliders, choices
   dropdowns, booleans check boxes, optional parameters get an "on" box.
   :class:`TunePanel` has one set of controls, :class:`ComparePanel` two side
   by side, :class:`TreePanel` draws one image's dominator tree; all
   recompute and redraw on change, debounced (a burst of slider events
   triggers one update, ``debounce`` seconds after the last).

A panel displays as the live widget in JupyterLab and, for static renderers
(``layerlab report``, GitHub), as HTML with the summary, the layer table and
the chart embedded, via ``_repr_mimebundle_``.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> s = default_imageset().subset(["img-curl", "img-git"])
    >>> out = evaluate(s, Config("nixery", budget=10), "img-git")
    >>> out.layer_count, out.pulled_bytes >= out.ideal_bytes
    (9, True)
"""

from __future__ import annotations

import asyncio
import base64
import html
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from matplotlib.ticker import MaxNLocator, NullLocator

from .errors import ConfigError, LayerlabError
from .imageset import ImageSet
from .metrics import Layering, layer_imageset, pull_cost
from .plot import _BYTES, _PALETTE, _REASON_COLOUR, format_bytes, layer_colours, to_png
from .popularity import load_popularity
from .strategies import available, strategy_class
from .strategies.base import Context, Layer, Param

if TYPE_CHECKING:
    import ipywidgets

__all__ = [
    "Config",
    "Outcome",
    "evaluate",
    "Evaluator",
    "PanelFigure",
    "render",
    "chart_svg",
    "summary_html",
    "layer_table_html",
    "param_widget",
    "byte_grid",
    "Debouncer",
    "ConfigControls",
    "TunePanel",
    "ComparePanel",
    "TreePanel",
    "bundled_imagesets",
    "DATA_DIR",
]

#: The bundled data (``data/`` at the top of the source tree).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

#: Budgets offered by the budget slider (Docker refuses more than 127 layers).
MAX_BUDGET = 127


# ------------------------------------------------------------------ data sets
def bundled_imagesets(data_dir: Path | None = None) -> dict[str, Callable[[], ImageSet]]:
    """The image sets shipped in ``data/``, by name, as loaders (nothing is read until called).

    ``debian-30`` is the 30-image set; ``kde-full``, ``git-curl-python3`` and
    ``bash-coreutils`` are single images; ``debian-30+kde`` pulls kde-full
    after the 30 images.  All use the Debian popularity table.

    Example:
        >>> sorted(bundled_imagesets())
        ['bash-coreutils', 'debian-30', 'debian-30+kde', 'git-curl-python3', 'kde-full']
    """
    from .imageset import load_imageset
    from .sources.files import load_graph

    root = (data_dir or DATA_DIR) / "debian"

    def popularity():
        return load_popularity(root / "popularity.json")

    def set30() -> ImageSet:
        return load_imageset(root / "imageset", popularity=popularity(), name="debian-30")

    def single(name: str) -> Callable[[], ImageSet]:
        def load() -> ImageSet:
            g = load_graph(root / f"{name}.graph.json", name=name)
            return ImageSet.from_graphs([g], name=name, popularity=popularity())

        return load

    def set30_kde() -> ImageSet:
        s = set30()
        kde = load_graph(root / "kde-full.graph.json", name="kde-full")
        return ImageSet.from_graphs([*s.graphs, kde], name="debian-30+kde", popularity=s.popularity)

    return {
        "debian-30": set30,
        "debian-30+kde": set30_kde,
        "kde-full": single("kde-full"),
        "git-curl-python3": single("git-curl-python3"),
        "bash-coreutils": single("bash-coreutils"),
    }


# ---------------------------------------------------------------- computation
def _freeze(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode() if isinstance(v, dict) else v) for k, v in params.items()))


@dataclass(frozen=True)
class Config:
    """One layering configuration: what a set of controls holds.

    Attributes:
        strategy: a strategy or preset name (``layerlab strategies``).
        params: parameter values on top of the preset (frozen as sorted pairs;
            dict values as JSON text).
        budget: maximum layers per image.
        rule: the pull rule, ``any`` (any digest) or ``chain`` (ChainID prefix).

    Example:
        >>> Config("nixery", {"size_threshold": 10**7}, 30).values()
        {'size_threshold': 10000000}
    """

    strategy: str
    params: Any = ()
    budget: int = 30
    rule: str = "any"

    def __post_init__(self) -> None:
        if isinstance(self.params, Mapping):
            object.__setattr__(self, "params", _freeze(self.params))

    def values(self) -> dict[str, Any]:
        """The parameter overrides as a dict (JSON text decoded back)."""
        out = {}
        for k, v in self.params:
            out[k] = orjson.loads(v) if isinstance(v, str) and v.startswith("{") else v
        return out

    def build(self):
        """The configured strategy.

        Raises:
            ConfigError: unknown strategy or an invalid parameter value.
        """
        cls, preset = strategy_class(self.strategy)
        return cls(**{**preset, **self.values()})

    def label(self) -> str:
        """A short description: ``nixery, budget 30, size_threshold=10 MB``."""
        parts = [self.strategy, f"budget {self.budget}"]
        cls, _ = strategy_class(self.strategy)
        for k, v in self.values().items():
            p = cls.param(k)
            parts.append(f"{k}={format_bytes(v) if p.kind == 'bytes' and v is not None else v}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Outcome:
    """What a configuration does to an image set.

    Attributes:
        config: the configuration.
        layering: the layers of every image.
        image: the image on display.
        layers: that image's layers, in manifest order.
        pull: the pull cost summary (:func:`layerlab.metrics.pull_cost`).
        cumulative: cumulative pulled bytes after each image, in pull order.
        cumulative_ideal: the same for the ideal bound.
    """

    config: Config
    layering: Layering
    image: str
    layers: tuple[Layer, ...]
    pull: Mapping[str, Any]
    cumulative: tuple[int, ...]
    cumulative_ideal: tuple[int, ...]

    @property
    def layer_count(self) -> int:
        """Layers of the displayed image."""
        return len(self.layers)

    @property
    def pulled_bytes(self) -> int:
        """Bytes one client pulls for the whole set."""
        return int(self.pull["pulled_bytes"])

    @property
    def ideal_bytes(self) -> int:
        """The ideal bound for the set (one layer per path)."""
        return int(self.pull["ideal_bytes"])

    @property
    def ratio(self) -> float:
        """Pulled bytes as a multiple of the ideal."""
        return float(self.pull["ratio"])

    @property
    def image_bytes(self) -> int:
        """Size of the displayed image."""
        return sum(layer.size or 0 for layer in self.layers)

    @property
    def largest_share(self) -> float:
        """Share of the displayed image in its largest layer."""
        total = self.image_bytes
        return max((layer.size or 0 for layer in self.layers), default=0) / total if total else 0.0

    def with_image(self, image: str | int) -> Outcome:
        """The same outcome displaying another image of the set, by name or index (nothing recomputed)."""
        pos = self.layering.imageset.position(image)
        return Outcome(self.config, self.layering, self.layering.imageset.images[pos].name, tuple(self.layering.layers[pos]), self.pull, self.cumulative, self.cumulative_ideal)


def evaluate(imageset: ImageSet, config: Config, image: str | int | None = None, *, context: Context | None = None) -> Outcome:
    """Group every image of ``imageset`` with ``config`` and measure the pull cost (a pure function).

    Args:
        imageset: the images, in pull order.
        config: strategy, parameters, budget and pull rule.
        image: the image whose layers the outcome displays (default: the
            largest image of the set).
        context: popularity; defaults to the image set's table.

    Raises:
        ConfigError: unknown strategy or image, invalid parameter.
        StrategyError: the strategy cannot run on these graphs.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> out = evaluate(default_imageset(), Config("nixery", budget=94))
        >>> out.image, round(out.ratio, 2)
        ('img-rustc', 1.77)
    """
    strategy = config.build()
    lay = layer_imageset(strategy, imageset, config.budget, context, check=False)
    frame, summary = pull_cost(lay, config.rule)
    if image is None:
        pos = max(range(len(imageset)), key=lambda i: (imageset.images[i].bytes, -i))
    else:
        try:
            pos = imageset.position(image)
        except LayerlabError:
            raise ConfigError(f"no image {image!r} in the set (images: {', '.join(imageset.names)})", source=imageset.name) from None
    return Outcome(
        config=config,
        layering=lay,
        image=imageset.images[pos].name,
        layers=tuple(lay.layers[pos]),
        pull=summary,
        cumulative=tuple(int(x) for x in frame["cumulative_pulled_bytes"]),
        cumulative_ideal=tuple(int(x) for x in frame["cumulative_ideal_bytes"]),
    )


@dataclass
class Evaluator:
    """:func:`evaluate` with a bounded memo per configuration, for one image set.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> ev = Evaluator(default_imageset().subset(["img-curl", "img-git"]))
        >>> a = ev(Config("nixery", budget=5), "img-curl"); b = ev(Config("nixery", budget=5), "img-git")
        >>> a.layering is b.layering, ev.misses
        (True, 1)
    """

    imageset: ImageSet
    size: int = 64
    misses: int = 0
    _memo: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def __call__(self, config: Config, image: str | int | None = None) -> Outcome:
        hit = self._memo.get(config)
        if hit is None:
            self.misses += 1
            hit = evaluate(self.imageset, config)
            self._memo[config] = hit
            while len(self._memo) > self.size:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(config)
        return hit if image is None or image == hit.image else hit.with_image(image)


# -------------------------------------------------------------------- drawing
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
        """Redraw both axes for ``outcomes`` (label, outcome)."""
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
                    ax.barh([row] * len(sizes), sizes, left=lefts, color=layer_colours(ordered), edgecolor="white", linewidth=0.4, height=0.7)
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
        series = [(("pulled" if len(outcomes) == 1 else label), out.cumulative, out.pulled_bytes) for label, out in outcomes]
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
        """Redraw and return the PNG."""
        self.draw(outcomes)
        return to_png(self.figure, dpi=90, compress_level=1)


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
    parts.append(f'<line x1="{l0}" y1="{bottom}" x2="{l1}" y2="{bottom}" stroke="#333"/><line x1="{l0}" y1="{top}" x2="{l0}" y2="{bottom}" stroke="#333"/>')
    if len(outcomes) == 1:
        sizes = [layer.size or 0 for layer in first.layers]
        positive = [x for x in sizes if x] or [1]
        lo, hi = max(1.0, min(positive) / 2), max(positive) * 2.0
        llo, lhi = math.log10(lo), math.log10(hi)

        def y_of(v: float) -> float:
            return bottom - (math.log10(max(v, lo)) - llo) / (lhi - llo) * (bottom - top)

        for t in _ticks(lo, hi, log=True):
            y = y_of(t)
            parts.append(f'<line x1="{l0 - 4}" y1="{y:.1f}" x2="{l0}" y2="{y:.1f}" stroke="#333"/>'
                         f'<text x="{l0 - 7}" y="{y + 4:.1f}" text-anchor="end">{format_bytes(t)}</text>')
        n = max(len(sizes), 1)
        step = (l1 - l0 - 8) / n
        for i, (layer, v) in enumerate(zip(first.layers, sizes)):
            x = l0 + 4 + i * step
            y = y_of(v)
            colour = _REASON_COLOUR.get(layer.reason, "#76b7b2")
            tip = esc(f"layer {i}: {format_bytes(v)}, {len(layer.paths)} paths, {layer.reason}")
            parts.append(f'<rect class="ll-bar" x="{x + step * 0.08:.1f}" y="{y:.1f}" width="{step * 0.84:.1f}" '
                         f'height="{bottom - y:.1f}" fill="{colour}"><title>{tip}</title></rect>')
        for t in _ticks(0, n - 1, n=10):
            if float(t).is_integer():
                x = l0 + 4 + (t + 0.5) * step
                parts.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{int(t)}</text>')
        parts.append(f'<text x="{(l0 + l1) / 2:.0f}" y="{bottom + 32}" text-anchor="middle">layer (manifest order)</text>')
        parts.append(f'<text x="14" y="{(top + bottom) / 2:.0f}" text-anchor="middle" transform="rotate(-90 14 {(top + bottom) / 2:.0f})">layer size</text>')
        title = f"{first.image}: {len(sizes)} layers, largest {first.largest_share:.0%}"
        reasons = list(dict.fromkeys(layer.reason for layer in first.layers))
        x = l1 - 8
        for r in reversed(reasons):  # legend, right-aligned along the top
            w = 16 + 7 * len(r)
            x -= w
            parts.append(f'<rect x="{x}" y="{top + 2}" width="10" height="10" fill="{_REASON_COLOUR.get(r, "#76b7b2")}"/>'
                         f'<text x="{x + 13}" y="{top + 11}" font-size="10">{esc(r)}</text>')
    else:
        widest = max(sum(layer.size or 0 for layer in o.layers) for _, o in outcomes) or 1
        xmax = widest * 1.18
        span = l1 - l0

        def x_of(v: float) -> float:
            return l0 + v / xmax * span

        for t in _ticks(0, xmax):
            x = x_of(t)
            parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333"/>'
                         f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{format_bytes(t)}</text>')
        rows = len(outcomes)
        band = (bottom - top) / rows
        for row, (label, out) in enumerate(outcomes):
            ordered = sorted(out.layers, key=lambda layer: -(layer.size or 0))
            colours = layer_colours(ordered)
            y = top + row * band + band * 0.15
            h = band * 0.7
            left = 0
            for layer, colour in zip(ordered, colours):
                v = layer.size or 0
                tip = esc(f"{format_bytes(v)}, {len(layer.paths)} paths, {layer.reason}")
                parts.append(f'<rect class="ll-bar" x="{x_of(left):.1f}" y="{y:.1f}" width="{max(v / xmax * span, 0.5):.1f}" height="{h:.1f}" '
                             f'fill="{colour}" stroke="white" stroke-width="0.4"><title>{tip}</title></rect>')
                left += v
            parts.append(f'<text x="{x_of(left) + 4:.1f}" y="{y + h / 2 + 4:.1f}">{len(ordered)} layers</text>'
                         f'<text x="{l0 - 8}" y="{y + h / 2 + 4:.1f}" text-anchor="end" font-weight="bold">{esc(label)}</text>')
        parts.append(f'<text x="{(l0 + l1) / 2:.0f}" y="{bottom + 32}" text-anchor="middle">bytes (one segment per layer, largest first)</text>')
        title = f"{first.image}: layers"
    parts.append(f'<text x="{(l0 + l1) / 2:.0f}" y="16" text-anchor="middle" font-size="13">{esc(title)}</text>')

    # ---- right: cumulative pull against the ideal
    r0, r1 = int(width * 0.56) + 80, width - 12
    parts.append(f'<line x1="{r0}" y1="{bottom}" x2="{r1}" y2="{bottom}" stroke="#333"/><line x1="{r0}" y1="{top}" x2="{r0}" y2="{bottom}" stroke="#333"/>')
    k = len(first.cumulative)
    series = [("pulled" if len(outcomes) == 1 else label, o.cumulative, o.pulled_bytes, _PALETTE[n], "") for n, (label, o) in enumerate(outcomes)]
    series.append(("ideal", first.cumulative_ideal, first.ideal_bytes, "#000000", ' stroke-dasharray="5,4"'))
    ymax = max((max(ys, default=0) for _, ys, _, _, _ in series), default=0) * 1.05 or 1

    def px(i: int) -> float:
        return r0 + (i + 0.5) / max(k, 1) * (r1 - r0)

    def py(v: float) -> float:
        return bottom - v / ymax * (bottom - top)

    for t in _ticks(0, ymax):
        y = py(t)
        parts.append(f'<line x1="{r0}" y1="{y:.1f}" x2="{r1}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{r0 - 6}" y="{y + 4:.1f}" text-anchor="end">{format_bytes(t)}</text>')
    for t in _ticks(1, k, n=8):
        if float(t).is_integer():
            parts.append(f'<text x="{px(int(t) - 1):.1f}" y="{bottom + 15}" text-anchor="middle">{int(t)}</text>')
    for n, (name, ys, total, colour, dash) in enumerate(series):
        pts = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(ys))
        parts.append(f'<polyline class="ll-line" points="{pts}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>')
        ly = top + 6 + n * 15
        parts.append(f'<line x1="{r0 + 10}" y1="{ly}" x2="{r0 + 30}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>'
                     f'<text x="{r0 + 35}" y="{ly + 4}" font-size="10">{esc(name)}: {format_bytes(total)}</text>')
    parts.append(f'<text x="{(r0 + r1) / 2:.0f}" y="{bottom + 32}" text-anchor="middle">images pulled (set order)</text>')
    rule = "any digest" if first.config.rule == "any" else "ChainID"
    parts.append(f'<text x="{(r0 + r1) / 2:.0f}" y="16" text-anchor="middle" font-size="13">'
                 f'{esc(f"cumulative pull over {first.layering.imageset.name} ({k} images, {rule})")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(outcomes: Sequence[tuple[str, Outcome]], figure: PanelFigure | None = None) -> bytes:
    """The panel chart as PNG bytes (a fresh figure unless one is given)."""
    return (figure or PanelFigure()).render(outcomes)


def summary_html(outcomes: Sequence[tuple[str, Outcome]]) -> str:
    """The figures of one or more configurations as an HTML table.

    Cells carry CSS classes (``ll-layers``, ``ll-pull``, ``ll-ratio``) so that
    tests and user style sheets can find them.

    Example:
        >>> from layerlab.imageset import default_imageset
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
        ("distinct layers in the set", "ll-set-layers", lambda o: str(o.pull.get("distinct_layers", o.layering.layer_count))),
        (f"pull bytes ({first.config.rule}, {len(first.cumulative)} images)", "ll-pull", lambda o: format_bytes(o.pulled_bytes)),
        ("ideal (one layer per path)", "ll-ideal", lambda o: format_bytes(o.ideal_bytes)),
        ("pull / ideal", "ll-ratio", lambda o: f"{o.ratio:.3f}×"),
    ]
    body = "".join(
        f"<tr><td>{name}</td>" + "".join(f'<td class="{cls}">{fn(o)}</td>' for _, o in outcomes) + "</tr>" for name, cls, fn in rows
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
    more = f"<caption style='caption-side:bottom'>{len(layers) - len(order)} smaller layers not shown</caption>" if len(layers) > len(order) else ""
    return (
        '<table class="ll-layer-table" style="font-size:12px">'
        "<tr><th>layer</th><th>size</th><th>share</th><th>paths</th><th>reason</th><th>first path</th></tr>"
        + "".join(rows)
        + more
        + "</table>"
    )


# -------------------------------------------------------------------- widgets
def byte_grid(lo: float, hi: float, extra: Sequence[float] = ()) -> list[int]:
    """A 1-2-5 grid from ``lo`` to ``hi`` (inclusive), plus ``extra`` values: a log scale with round stops.

    Example:
        >>> byte_grid(1000, 10000)
        [1000, 2000, 5000, 10000]
        >>> byte_grid(1, 10, extra=[3])
        [1, 2, 3, 5, 10]
    """
    out = {int(x) for x in extra if x is not None and lo <= x <= hi}
    e = math.floor(math.log10(max(lo, 1)))
    while 10**e <= hi:
        for m in (1, 2, 5):
            v = m * 10**e
            if lo <= v <= hi:
                out.add(v)
        e += 1
    return sorted(out)


def _int_label(v: int) -> str:
    return f"{v:,}"


def param_widget(param: Param, value: Any = None, *, description_width: str = "170px") -> tuple[Any, Callable[[], Any]]:
    """A control for one declared parameter, and a function reading its value.

    Byte sizes and ``log`` integers use a :class:`ipywidgets.SelectionSlider`
    over :func:`byte_grid` (1 kB .. 100 GB for bytes, 1 .. 1,000,000 for
    counts, clipped to the declared bounds).  Optional parameters get a check
    box that turns them on; when off the value is ``None``.

    Example:
        >>> from layerlab.strategies.nixery import Nixery
        >>> w, get = param_widget(Nixery.param("size_threshold"))
        >>> w.value, w.options[0][0], get()
        (100000000, '1 kB', 100000000)
    """
    import ipywidgets as W

    value = param.default if value is None else value
    style = {"description_width": description_width}
    layout = W.Layout(width="480px")
    desc = param.name.replace("_", " ")
    kind = param.kind
    widget: Any
    if kind in ("bytes", "int") and (param.log or kind == "bytes"):
        lo_d, hi_d = (1_000, 100_000_000_000) if kind == "bytes" else (1, 1_000_000)
        lo = max(lo_d, param.minimum or 0)
        hi = min(hi_d, param.maximum if param.maximum is not None else hi_d)
        grid = byte_grid(lo, hi)
        if isinstance(value, int) and not isinstance(value, bool) and value not in grid:
            grid = sorted({*grid, value})  # a value off the grid (or outside it) joins it
        fmt: Callable[[int], str] = format_bytes if kind == "bytes" else _int_label
        start = value if isinstance(value, int) and value in grid else grid[len(grid) // 2]
        widget = W.SelectionSlider(
            options=[(fmt(v), v) for v in grid], value=start, description=desc, style=style, layout=layout, tooltip=param.help
        )
    elif kind == "int":
        lo = int(param.minimum if param.minimum is not None else 0)
        hi = int(param.maximum if param.maximum is not None and param.maximum <= 10_000 else max(lo + 100, (value or 0) * 4))
        widget = W.IntSlider(value=value if value is not None else lo, min=lo, max=hi, description=desc, style=style, layout=layout)
    elif kind == "float":
        lo = float(param.minimum if param.minimum is not None else 0.0)
        hi = float(param.maximum if param.maximum is not None else max(1.0, (value or 1.0) * 4))
        widget = W.FloatSlider(value=value if value is not None else (lo + hi) / 2, min=lo, max=hi, step=(hi - lo) / 200, description=desc, style=style, layout=layout)
    elif kind == "bool":
        widget = W.Checkbox(value=bool(value), description=desc, style=style, indent=False)
    elif kind == "choice":
        widget = W.Dropdown(options=list(param.choices), value=value, description=desc, style=style)
    elif kind == "dict":
        widget = W.Text(value=orjson.dumps(value or {}).decode(), description=desc, style=style, layout=layout, continuous_update=False)
    else:
        widget = W.Text(value=str(value or ""), description=desc, style=style, layout=layout, continuous_update=False)
    widget.tooltip = param.help

    def read_plain() -> Any:
        v = widget.value
        return param.coerce(v, where=f"widget {param.name}") if kind == "dict" else v

    if not param.optional:
        return widget, read_plain
    on = W.Checkbox(value=value is not None, description="on", indent=False, layout=W.Layout(width="60px"))
    widget.disabled = not on.value
    on.observe(lambda ch: setattr(widget, "disabled", not ch["new"]), names="value")
    box = W.HBox([widget, on])
    box.children_value_widgets = (widget, on)
    return box, (lambda: read_plain() if on.value else None)


class Debouncer:
    """Call ``fn`` once, ``delay`` seconds after the last of a burst of calls.

    Inside a running asyncio loop (a Jupyter kernel) the call is scheduled on
    the loop; without one (a script, a test) it runs at once.

    Example:
        >>> calls = []
        >>> d = Debouncer(0.1, lambda: calls.append(1)); d(); d()
        >>> calls
        [1, 1]
    """

    def __init__(self, delay: float, fn: Callable[[], None]) -> None:
        self.delay = delay
        self.fn = fn
        self._handle: asyncio.TimerHandle | None = None

    def __call__(self, *_: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.delay <= 0:
            self.fn()
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.fn()


class ConfigControls:
    """The controls of one configuration: strategy, its parameters, budget, pull rule.

    The parameter controls are generated from the strategy's declared
    :class:`~layerlab.strategies.base.Param` list and rebuilt when the strategy
    changes.  ``on_change`` is called (with no argument) after any change.

    Example:
        >>> c = ConfigControls("nixery-2022", budget=20)
        >>> c.config().budget, c.config().values(), c.config().build().popularity_threshold
        (20, {}, 100)
    """

    def __init__(
        self,
        strategy: str = "nixery",
        *,
        budget: int = 30,
        params: Mapping[str, Any] | None = None,
        rule: str = "any",
        title: str = "",
        on_change: Callable[[], None] | None = None,
    ) -> None:
        import ipywidgets as W

        strategy_class(strategy)  # validate the name early
        self.on_change = on_change
        self._getters: dict[str, Callable[[], Any]] = {}
        self.title = W.HTML(f"<b>{html.escape(title)}</b>") if title else None
        self.strategy = W.Dropdown(options=list(available()), value=strategy, description="strategy", style={"description_width": "170px"})
        self.budget = W.IntSlider(
            value=budget, min=1, max=MAX_BUDGET, description="budget (layers)", style={"description_width": "170px"}, layout=W.Layout(width="480px")
        )
        self.budget.add_class("ll-budget")
        self.rule = W.ToggleButtons(options=[("any digest", "any"), ("ChainID", "chain")], value=rule, description="pull rule", style={"description_width": "170px", "button_width": "100px"})
        self.param_box = W.VBox([])
        self._build_params(params or {})
        self.strategy.observe(self._strategy_changed, names="value")
        self.budget.observe(self._changed, names="value")
        self.rule.observe(self._changed, names="value")
        parts = [self.strategy, self.param_box, self.budget, self.rule]
        self.widget = W.VBox(([self.title] if self.title else []) + parts)

    def _build_params(self, overrides: Mapping[str, Any]) -> None:
        cls, preset = strategy_class(self.strategy.value)
        values = {**preset, **overrides}
        children, getters = [], {}
        for p in cls.params:
            w, get = param_widget(p, values.get(p.name, p.default))
            for target in getattr(w, "children_value_widgets", (w,)):
                target.observe(self._changed, names="value")
            children.append(w)
            getters[p.name] = get
        self._getters = getters
        self.param_box.children = children

    def _strategy_changed(self, _change: Any) -> None:
        self._build_params({})
        self._changed(None)

    def _changed(self, _change: Any) -> None:
        if self.on_change is not None:
            self.on_change()

    def config(self) -> Config:
        """The configuration the controls hold (only values differing from the preset are kept)."""
        cls, preset = strategy_class(self.strategy.value)
        params = {}
        for name, get in self._getters.items():
            v = get()
            base = preset.get(name, cls.param(name).default)
            if v != base:
                params[name] = v
        return Config(self.strategy.value, params, int(self.budget.value), self.rule.value)

    def set(self, **values: Any) -> None:
        """Set controls programmatically: ``strategy``, ``budget``, ``rule`` or a parameter name."""
        if "strategy" in values:
            self.strategy.value = values.pop("strategy")
        for key, v in values.items():
            if key == "budget":
                self.budget.value = v
            elif key == "rule":
                self.rule.value = v
            else:
                idx = [p.name for p in strategy_class(self.strategy.value)[0].params].index(key) if key in self._getters else -1
                if idx < 0:
                    raise ConfigError(f"unknown parameter {key} of strategy {self.strategy.value}", source="ConfigControls.set")
                w = self.param_box.children[idx]
                target: Sequence[Any] = getattr(w, "children_value_widgets", (w,))
                if len(target) == 2:
                    target[1].value = v is not None
                    if v is None:
                        continue
                _set_value(target[0], v, key)


def _set_value(widget: Any, value: Any, name: str) -> None:
    """Set a control's value; a value off a selection slider's grid is added to the grid."""
    import ipywidgets as W
    from traitlets import TraitError

    if isinstance(widget, W.Text) and not isinstance(value, str):
        value = orjson.dumps(value).decode()
    if isinstance(widget, W.SelectionSlider) and value not in [v for _, v in widget.options]:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} is not a valid value", source="ConfigControls.set")
        fmt: Callable[[int], str] = format_bytes if widget.options[0][0].endswith("B") else _int_label
        grid = sorted({*(v for _, v in widget.options), value})
        widget.options = [(fmt(v), v) for v in grid]
    try:
        widget.value = value
    except (TraitError, ValueError) as err:
        raise ConfigError(f"{name}={value!r} is not a valid value ({err})", source="ConfigControls.set") from None


class _Panel:
    """Shared machinery of :class:`TunePanel` and :class:`ComparePanel`."""

    labels: tuple[str, ...] = ()
    widget: ipywidgets.VBox  # built by each panel's __init__

    def __init__(
        self,
        controls: Sequence[ConfigControls],
        *,
        imageset: str | ImageSet,
        image: str | None,
        imagesets: Mapping[str, Callable[[], ImageSet]] | None,
        debounce: float,
    ) -> None:
        import ipywidgets as W

        self._loaders = dict(imagesets if imagesets is not None else bundled_imagesets())
        if isinstance(imageset, ImageSet):
            loaded = imageset
            self._loaders[imageset.name] = lambda: loaded
            imageset = imageset.name
        if imageset not in self._loaders:
            raise ConfigError(f"unknown image set {imageset!r} (known: {', '.join(self._loaders)})", source="panel")
        self._evaluators: dict[str, Evaluator] = {}
        self.controls = list(controls)
        self.outcomes: list[Outcome] = []
        self.error: str | None = None
        self.updates = 0
        style = {"description_width": "170px"}
        self.imageset = W.Dropdown(options=list(self._loaders), value=imageset, description="image set", style=style)
        ev = self._evaluator(imageset)
        self.image = W.Dropdown(options=list(ev.imageset.names), value=image or self._largest(ev.imageset), description="image shown", style=style)
        self.summary = W.HTML()
        self.summary.add_class("ll-summary-box")
        self.chart = W.HTML()
        self.chart.add_class("ll-chart")
        self.table = W.HTML()
        self.status = W.HTML()
        self.status.add_class("ll-status")
        self._holding = False
        # Rendered views per (image set, image, configurations): going back to
        # an earlier slider position redraws nothing.
        self._views: OrderedDict = OrderedDict()
        self._debounced = Debouncer(debounce, self.refresh)
        for c in self.controls:
            c.on_change = self._on_change
        self.imageset.observe(self._imageset_changed, names="value")
        self.image.observe(self._on_change, names="value")
        self.refresh()

    # -------------------------------------------------------------- plumbing
    def _evaluator(self, name: str) -> Evaluator:
        ev = self._evaluators.get(name)
        if ev is None:
            ev = self._evaluators[name] = Evaluator(self._loaders[name]())
        return ev

    @staticmethod
    def _largest(s: ImageSet) -> str:
        return max(s.images, key=lambda img: img.bytes).name

    def _on_change(self, *_: Any) -> None:
        if not self._holding:
            self._debounced()

    def _imageset_changed(self, change: Any) -> None:
        ev = self._evaluator(change["new"])
        holding, self._holding = self._holding, True
        try:
            self.image.options = list(ev.imageset.names)
            self.image.value = self._largest(ev.imageset)
        finally:
            self._holding = holding
        self._on_change()

    def compute(self) -> list[Outcome]:
        """The outcomes of the current control values (memoised per configuration)."""
        ev = self._evaluator(self.imageset.value)
        return [ev(c.config(), self.image.value) for c in self.controls]

    def refresh(self) -> None:
        """Recompute and redraw now (the debounced callback ends here)."""
        try:
            outcomes = self.compute()
        except LayerlabError as err:
            self.error = str(err)
            self.status.value = f'<span style="color:#b00020">{html.escape(str(err))}</span>'
            return
        self.error = None
        self.status.value = ""
        self.outcomes = outcomes
        key = (self.imageset.value, self.image.value, tuple(o.config for o in outcomes))
        views = self._views.get(key)
        if views is None:
            pairs = list(zip(self.labels, outcomes))
            views = (summary_html(pairs), chart_svg(pairs), self._table_html(pairs))
            self._views[key] = views
            while len(self._views) > 32:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(key)
        self.summary.value, self.chart.value, self.table.value = views
        self.updates += 1

    def _table_html(self, pairs: Sequence[tuple[str, Outcome]]) -> str:
        if len(pairs) == 1:
            return layer_table_html(pairs[0][1].layers)
        cells = "".join(
            f'<div style="flex:1"><b>{html.escape(label)}</b>{layer_table_html(o.layers, top=8)}</div>' for label, o in pairs
        )
        return f'<div style="display:flex;gap:24px">{cells}</div>'

    def set(self, **values: Any) -> None:
        """Change controls and recompute at once: ``imageset``, ``image``, or anything of :meth:`ConfigControls.set`."""
        self._holding = True
        try:
            if "imageset" in values:
                self.imageset.value = values.pop("imageset")
            if "image" in values:
                self.image.value = values.pop("image")
            if values:
                self.controls[0].set(**values)
        finally:
            self._holding = False
        self.refresh()

    @property
    def result(self) -> Outcome:
        """The outcome of the first configuration."""
        return self.outcomes[0]

    def snapshot_html(self) -> str:
        """Summary, chart and layer table as self-contained HTML (for static renderers)."""
        pairs = list(zip(self.labels, self.outcomes))
        err = f"<p style='color:#b00020'>{html.escape(self.error)}</p>" if self.error else ""
        return f"<div class='ll-snapshot'>{err}{summary_html(pairs) if pairs else ''}{self.chart.value}{self._table_html(pairs) if pairs else ''}</div>"

    def figure(self):
        """The current chart as a matplotlib Figure (for saving with :func:`layerlab.plot.save_png`)."""
        pf = PanelFigure()
        pf.draw(list(zip(self.labels, self.outcomes)))
        return pf.figure

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle = dict(bundle)
        bundle["text/html"] = self.snapshot_html()
        bundle["text/plain"] = f"<{type(self).__name__}: {self.outcomes[0].config.label() if self.outcomes else 'no result'}>"
        return bundle


class TunePanel(_Panel):
    """One configuration, live: pick image set, image and strategy, move thresholds and budget.

    Example:
        >>> p = TunePanel(budget=30)
        >>> p.result.image, p.result.layer_count
        ('img-rustc', 18)
        >>> p.set(budget=10); p.result.layer_count
        10
    """

    labels = ("value",)

    def __init__(
        self,
        imageset: str | ImageSet = "debian-30",
        strategy: str = "nixery",
        *,
        budget: int = 30,
        params: Mapping[str, Any] | None = None,
        image: str | None = None,
        rule: str = "any",
        imagesets: Mapping[str, Callable[[], ImageSet]] | None = None,
        debounce: float = 0.15,
    ) -> None:
        import ipywidgets as W

        controls = ConfigControls(strategy, budget=budget, params=params, rule=rule)
        super().__init__([controls], imageset=imageset, image=image, imagesets=imagesets, debounce=debounce)
        left = W.VBox([self.imageset, self.image, controls.widget, self.status], layout=W.Layout(min_width="500px", margin="0 20px 0 0"))
        right = W.VBox([self.summary, self.table])
        self.widget = W.VBox([W.HBox([left, right]), self.chart])
        self.widget.add_class("ll-tune-panel")


class ComparePanel(_Panel):
    """Two configurations side by side on the same image set and image.

    Example:
        >>> p = ComparePanel(a={"strategy": "nixery", "budget": 94}, b={"strategy": "nixery", "budget": 10})
        >>> [o.image for o in p.outcomes], [o.layer_count for o in p.outcomes]
        (['img-rustc', 'img-rustc'], [18, 10])
    """

    labels = ("A", "B")

    def __init__(
        self,
        imageset: str | ImageSet = "debian-30",
        *,
        a: Mapping[str, Any] | None = None,
        b: Mapping[str, Any] | None = None,
        image: str | None = None,
        imagesets: Mapping[str, Callable[[], ImageSet]] | None = None,
        debounce: float = 0.15,
    ) -> None:
        import ipywidgets as W

        def make(spec: Mapping[str, Any] | None, title: str) -> ConfigControls:
            spec = dict(spec or {})
            return ConfigControls(
                spec.pop("strategy", "nixery"),
                budget=spec.pop("budget", 30),
                rule=spec.pop("rule", "any"),
                params=spec.pop("params", {}),
                title=title,
            )

        ca, cb = make(a, "A"), make(b or {"strategy": "nixery-2022"}, "B")
        super().__init__([ca, cb], imageset=imageset, image=image, imagesets=imagesets, debounce=debounce)
        head = W.HBox([self.imageset, self.image])
        ca.widget.layout.margin = "0 24px 0 0"
        sides = W.HBox([ca.widget, cb.widget])
        self.widget = W.VBox([head, sides, self.status, self.summary, self.chart, self.table])
        self.widget.add_class("ll-compare-panel")

    def set_side(self, side: str, **values: Any) -> None:
        """Change the controls of side ``A`` or ``B`` and recompute at once."""
        idx = {"A": 0, "B": 1}.get(side.upper())
        if idx is None:
            raise ConfigError(f"side must be A or B, not {side!r}", source="ComparePanel.set_side")
        self._holding = True
        try:
            self.controls[idx].set(**values)
        finally:
            self._holding = False
        self.refresh()


class TreePanel(_Panel):
    """The dominator tree of one image, live: pick image, strategy, thresholds and budget.

    Draws :func:`layerlab.plot.dominator_tree` for the strategy's own tree
    (:func:`layerlab.plot.strategy_tree`) as a PNG, with a summary (big and
    popular paths, layers, catch-all share) and the layer table.  A matplotlib
    redraw of a 1,000-path tree takes about a second, so the default debounce
    is longer than the tune panel's.

    Example:
        >>> p = TreePanel("kde-full", "nixery-2022", budget=30)
        >>> p.tree.popularity_threshold, len(p.tree.layers), 'class="ll-big">444<' in p.summary.value
        (100, 30, True)
    """

    labels = ("value",)

    def __init__(
        self,
        imageset: str | ImageSet = "kde-full",
        strategy: str = "nixery-2022",
        *,
        budget: int = 30,
        params: Mapping[str, Any] | None = None,
        image: str | None = None,
        imagesets: Mapping[str, Callable[[], ImageSet]] | None = None,
        debounce: float = 0.4,
    ) -> None:
        import ipywidgets as W

        self.tree: Any = None
        controls = ConfigControls(strategy, budget=budget, params=params)
        controls.rule.layout.display = "none"  # the pull rule plays no part in one image's tree
        super().__init__([controls], imageset=imageset, image=image, imagesets=imagesets, debounce=debounce)
        left = W.VBox([self.imageset, self.image, controls.widget, self.status], layout=W.Layout(min_width="500px", margin="0 20px 0 0"))
        right = W.VBox([self.summary, self.table])
        self.widget = W.VBox([W.HBox([left, right]), self.chart])
        self.widget.add_class("ll-tree-panel")

    def refresh(self) -> None:
        """Regroup the image shown and redraw its tree now."""
        from .plot import dominator_tree, strategy_tree

        try:
            ev = self._evaluator(self.imageset.value)
            config = self.controls[0].config()
            graph = ev.imageset[self.image.value].graph
            strategy = config.build()
            context = Context(popularity=ev.imageset.popularity)
        except LayerlabError as err:
            self.error = str(err)
            self.status.value = f'<span style="color:#b00020">{html.escape(str(err))}</span>'
            return
        key = (self.imageset.value, self.image.value, config)
        views = self._views.get(key)
        if views is None:
            try:
                tree = strategy_tree(strategy, graph, context, config.budget)
            except LayerlabError as err:
                self.error = str(err)
                self.status.value = f'<span style="color:#b00020">{html.escape(str(err))}</span>'
                return
            fig = dominator_tree(graph, list(tree.layers), idom=tree.idom, big=tree.big, popular=tree.popular)
            png = base64.b64encode(to_png(fig, dpi=80, compress_level=1)).decode()
            total = sum(layer.size or 0 for layer in tree.layers) or 1
            catch_all = sum(layer.size or 0 for layer in tree.layers if layer.reason == "merged")
            rows = [
                ("configuration", "ll-config", html.escape(config.label())),
                ("paths", "ll-paths", f"{len(graph):,}"),
                ("big paths", "ll-big", str(len(tree.big))),
                ("popular paths", "ll-popular", str(len(tree.popular))),
                ("layers", "ll-layers", str(len(tree.layers))),
                ("catch-all layer", "ll-catch-all", f"{catch_all / total:.0%} of the image"),
            ]
            summary = '<table class="ll-summary" style="font-size:13px">' + "".join(
                f'<tr><td>{name}</td><td class="{cls}">{value}</td></tr>' for name, cls, value in rows
            ) + "</table>"
            views = (tree, summary, f'<img alt="dominator tree" style="max-width:100%" src="data:image/png;base64,{png}"/>', layer_table_html(tree.layers))
            self._views[key] = views
            while len(self._views) > 16:
                self._views.popitem(last=False)
        self.error = None
        self.status.value = ""
        self.tree, self.summary.value, self.chart.value, self.table.value = views
        self.updates += 1

    @property
    def result(self) -> Any:
        """The :class:`~layerlab.plot.StrategyTree` shown."""
        return self.tree

    def snapshot_html(self) -> str:
        err = f"<p style='color:#b00020'>{html.escape(self.error)}</p>" if self.error else ""
        return f"<div class='ll-snapshot'>{err}{self.summary.value}{self.chart.value}{self.table.value}</div>"

    def figure(self):
        """The tree shown, as a matplotlib Figure."""
        from .plot import dominator_tree

        ev = self._evaluator(self.imageset.value)
        graph = ev.imageset[self.image.value].graph
        return dominator_tree(graph, list(self.tree.layers), idom=self.tree.idom, big=self.tree.big, popular=self.tree.popular)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.snapshot_html()
        bundle["text/plain"] = f"<TreePanel: {self.image.value}, {self.controls[0].config().label()}>"
        return bundle
