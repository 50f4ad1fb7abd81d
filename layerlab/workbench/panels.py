"""Workbench panels: live controls, figures and tables for one or two configurations.

:class:`TunePanel` has one set of controls, :class:`ComparePanel` two side by
side, :class:`TreePanel` draws one image's dominator tree; all recompute and
redraw on change, debounced (a burst of slider events triggers one update,
``debounce`` seconds after the last).  Rendered views are memoised per
configuration, so going back to an earlier slider position costs nothing.

A panel displays as the live widget in JupyterLab and, for static renderers
(``layerlab report``, GitHub), as HTML with the summary, the layer table and
the chart embedded, via ``_repr_mimebundle_``.

Example:
    >>> p = TunePanel(budget=30)
    >>> p.result.image, p.result.layer_count
    ('img-rustc', 18)
"""

from __future__ import annotations

import base64
import html
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, LayerlabError
from ..imageset import ImageSet, bundled_imagesets
from ..plot import to_png
from ..strategies.base import Context
from .compute import Outcome, OutcomeCache
from .controls import ConfigControls, Debouncer
from .render import PanelFigure, chart_svg, layer_table_html, summary_html

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["TunePanel", "ComparePanel", "TreePanel"]


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
        self._evaluators: dict[str, OutcomeCache] = {}
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
    def _evaluator(self, name: str) -> OutcomeCache:
        ev = self._evaluators.get(name)
        if ev is None:
            ev = self._evaluators[name] = OutcomeCache(self._loaders[name]())
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

    def figure(self):  # noqa: ANN201 - matplotlib Figure
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
        from ..plot import dominator_tree, strategy_tree

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

    def figure(self):  # noqa: ANN201 - matplotlib Figure
        """The tree shown, as a matplotlib Figure."""
        from ..plot import dominator_tree

        ev = self._evaluator(self.imageset.value)
        graph = ev.imageset[self.image.value].graph
        return dominator_tree(graph, list(self.tree.layers), idom=self.tree.idom, big=self.tree.big, popular=self.tree.popular)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.snapshot_html()
        bundle["text/plain"] = f"<TreePanel: {self.image.value}, {self.controls[0].config().label()}>"
        return bundle
