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

__all__ = ["TunePanel", "ComparePanel", "TreePanel", "PanelView"]


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
        self.image = W.Dropdown(
            options=list(ev.imageset.names),
            value=image or self._largest(ev.imageset),
            description="image shown",
            style=style,
        )
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
            urgent = [c.take_urgent() for c in self.controls]  # every flag cleared
            if any(urgent):
                self.refresh()
            else:
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
            f'<div style="flex:1"><b>{html.escape(label)}</b>{layer_table_html(o.layers, top=8)}</div>'
            for label, o in pairs
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
        summary = summary_html(pairs) if pairs else ""
        table = self._table_html(pairs) if pairs else ""
        return f"<div class='ll-snapshot'>{err}{summary}{self.chart.value}{table}</div>"

    def figure(self):
        """The current chart as a matplotlib Figure (for saving with :func:`layerlab.plot.save_png`)."""
        pf = PanelFigure()
        pf.draw(list(zip(self.labels, self.outcomes)))
        return pf.figure

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle = dict(bundle)
        bundle["text/html"] = self.snapshot_html()
        bundle["text/plain"] = (
            f"<{type(self).__name__}: {self.outcomes[0].config.label() if self.outcomes else 'no result'}>"
        )
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
        left = W.VBox(
            [self.imageset, self.image, controls.widget, self.status],
            layout=W.Layout(min_width="500px", margin="0 20px 0 0"),
        )
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
        self.diff = W.HTML()
        self.diff.add_class("ll-diff-box")
        self.difference: Any = None
        super().__init__([ca, cb], imageset=imageset, image=image, imagesets=imagesets, debounce=debounce)
        head = W.HBox([self.imageset, self.image])
        ca.widget.layout.margin = "0 24px 0 0"
        sides = W.HBox([ca.widget, cb.widget])
        diff_title = W.HTML("<b>What changes from A to B</b>")
        self.widget = W.VBox([head, sides, self.status, self.summary, self.chart, diff_title, self.diff, self.table])
        self.widget.add_class("ll-compare-panel")

    def refresh(self) -> None:
        """Recompute both sides, redraw, and diff A against B now.

        Example:
            >>> p = ComparePanel("bash-coreutils", a={"budget": 30}, b={"strategy": "nixery", "budget": 3})
            >>> p.refresh(); p.difference.summary()["layers_only_b"] > 0
            True
        """
        from ..metrics.diff import diff_layerings
        from .render import diff_html

        super().refresh()
        if self.error is not None or len(self.outcomes) != 2:
            return
        a, b = self.outcomes
        key = ("diff", self.imageset.value, a.config, b.config)
        d = self._views.get(key)
        if d is None:
            d = self._views[key] = diff_layerings(a.layering, b.layering)
        self.difference = d
        self.diff.value = diff_html(d, self.image.value)

    def snapshot_html(self) -> str:
        """Summary, chart, the diff of A and B and the layer tables as self-contained HTML.

        Example:
            >>> p = ComparePanel("bash-coreutils", a={"budget": 30}, b={"strategy": "nixery", "budget": 3})
            >>> "What changes from A to B" in p.snapshot_html()
            True
        """
        base = super().snapshot_html()
        if not self.diff.value:
            return base
        return base[: -len("</div>")] + "<h4>What changes from A to B</h4>" + self.diff.value + "</div>"

    def set_side(self, side: str, **values: Any) -> None:
        """Change the controls of side ``A`` or ``B`` and recompute at once.

        Example:
            >>> p = ComparePanel("bash-coreutils", a={"budget": 30}, b={"strategy": "nixery", "budget": 3})
            >>> p.set_side("B", budget=2); p.outcomes[1].layer_count
            2
        """
        idx = {"A": 0, "B": 1}.get(side.upper())
        if idx is None:
            raise ConfigError(f"side must be A or B, not {side!r}", source="ComparePanel.set_side")
        self._holding = True
        try:
            self.controls[idx].set(**values)
        finally:
            self._holding = False
        self.refresh()


class PanelView:
    """One HTML view that follows a panel: the live widget in JupyterLab, its current HTML for static renderers.

    Example:
        >>> import ipywidgets as W
        >>> v = PanelView(W.HTML("<b>x</b>"))
        >>> v._repr_mimebundle_()["text/html"]
        '<b>x</b>'
    """

    def __init__(self, widget: Any) -> None:
        self.widget = widget

    @property
    def value(self) -> str:
        """The HTML shown now."""
        return str(self.widget.value)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.value
        bundle["text/plain"] = "<panel view>"
        return bundle


class TreePanel(_Panel):
    """One image's tree of what keeps its bytes alive, live, with search and explanation.

    Pick image set, image, strategy, thresholds and budget; the panel regroups
    the image and redraws an interactive icicle (:func:`~layerlab.workbench.tree.icicle_figure`:
    hover for name, sizes, layer and reason; click to zoom into a subtree),
    coloured by layer identity with the catch-all layer grey.  The search box
    takes a package name or path fragment and explains, for the current
    configuration, where the best match went and why
    (:func:`~layerlab.metrics.explain.explain_path`), highlighting it in the tree.
    "save configuration" writes the strategy JSON ``layerlab group --config``
    reads, and shows the nixpkgs or nix2container equivalent where there is one.

    :attr:`views` are HTML widgets that follow the panel (big and popular
    paths, every initial layer with its fate, the layer table, the layer
    browser): display them in later notebook cells and they update with it.
    While a change is being computed the status line reads "regrouping…".

    Example:
        >>> p = TreePanel("kde-full", "nixery-2022", budget=30)
        >>> p.tree.popularity_threshold, len(p.tree.layers), 'class="ll-big">444<' in p.summary.value
        (100, 30, True)
        >>> p.find("libllvm15").layer_reason, "merged" in p.explanation.value
        ('merged', True)
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
        debounce: float = 0.1,
        query: str = "",
    ) -> None:
        import ipywidgets as W

        self.tree: Any = None
        self.figure_dict: dict[str, Any] = {}
        self.explained: Any = None
        self.highlight: int | None = None
        self.saved_path: str | None = None
        self.busy = W.HTML()
        self.busy.add_class("ll-busy-box")
        self.search = W.Text(
            value=query,
            placeholder="package name or path fragment, e.g. libllvm15",
            description="find and explain",
            continuous_update=False,
            style={"description_width": "170px"},
            layout=W.Layout(width="480px"),
        )
        self.search.add_class("ll-search")
        self.explanation = W.HTML()
        self.explanation.add_class("ll-explain")
        from .plotview import PlotlyView

        self.plot = PlotlyView()
        self.plot.add_class("ll-tree")
        self.views = {name: PanelView(W.HTML()) for name in ("flags", "merges", "layers", "browser")}
        self.save_name = W.Text(
            value="layerlab-config.json",
            description="save as",
            style={"description_width": "60px"},
            layout=W.Layout(width="320px"),
        )
        self.save_button = W.Button(description="save configuration", icon="save", layout=W.Layout(width="180px"))
        self.save_button.add_class("ll-save")
        self.saved = W.HTML()
        self.saved.add_class("ll-saved")
        controls = ConfigControls(strategy, budget=budget, params=params)
        controls.rule.layout.display = "none"  # the pull rule plays no part in one image's tree
        super().__init__([controls], imageset=imageset, image=image, imagesets=imagesets, debounce=debounce)
        self.search.observe(lambda _ch: self._find_now(), names="value")
        self.save_button.on_click(lambda _b: self.save())
        left = W.VBox(
            [self.imageset, self.image, controls.widget, self.status],
            layout=W.Layout(min_width="500px", margin="0 20px 0 0"),
        )
        right = W.VBox([self.summary, W.HBox([self.save_name, self.save_button]), self.saved])
        finder = W.VBox([self.search, self.explanation])
        self.widget = W.VBox([W.HBox([left, right]), self.busy, finder, self.plot, self.table])
        self.widget.add_class("ll-tree-panel")
        if query:
            self._find_now()

    def _on_change(self, *_: Any) -> None:
        if not self._holding:
            self.busy.value = '<span class="ll-busy" style="color:#a05a00">&#9203; regrouping&#8230;</span>'
            urgent = [c.take_urgent() for c in self.controls]  # every flag cleared
            if any(urgent):
                self.refresh()
            else:
                self._debounced()

    def _facts(self) -> list[Any]:
        """``[facts, views]`` of the current configuration, memoised; ``views`` is None until :meth:`_views_of`."""
        from ..metrics.explain import grouping_facts

        ev = self._evaluator(self.imageset.value)
        config = self.controls[0].config()
        key = (self.imageset.value, self.image.value, config)
        hit = self._views.get(key)
        if hit is None:
            graph = ev.imageset[self.image.value].graph
            facts = grouping_facts(graph, config.build(), Context(popularity=ev.imageset.popularity), config.budget)
            hit = self._views[key] = [facts, None]
            while len(self._views) > 16:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(key)
        return hit

    def _views_of(self, hit: list[Any]) -> dict[str, str]:
        if hit[1] is None:
            ev = self._evaluator(self.imageset.value)
            hit[1] = self._static_views(hit[0], self.controls[0].config(), ev.imageset)
        return hit[1]

    def _static_views(self, facts: Any, config: Any, imageset: ImageSet) -> dict[str, str]:
        from .render import browser_html, flags_table_html, merges_table_html, tree_summary_html

        all_layers = None
        if len(imageset) > 1:
            all_layers = self._evaluator(self.imageset.value)(config).layering.layers
        return {
            "summary": tree_summary_html(facts, config.label()),
            "table": layer_table_html(facts.layers, top=len(facts.layers)),
            "flags": flags_table_html(facts),
            "merges": merges_table_html(facts),
            "browser": browser_html(facts.layers, imageset, self.image.value, all_layers=all_layers),
        }

    def refresh(self) -> None:
        """Regroup the image shown and redraw its tree now.

        Example:
            >>> p = TreePanel("bash-coreutils", "nixery", budget=5)
            >>> before = p.updates; p.refresh(); p.updates - before, p.figure_dict["data"][0]["type"]
            (1, 'icicle')
        """
        from .tree import icicle_figure

        try:
            hit = self._facts()
        except LayerlabError as err:
            self.error = str(err)
            self.status.value = f'<span style="color:#b00020">{html.escape(str(err))}</span>'
            self.busy.value = ""
            return
        self.error = None
        self.status.value = ""
        facts = self.tree = hit[0]
        self.highlight = None
        if self.search.value.strip():
            self._explain(quiet=True)
        title = (
            f"{facts.graph.name}: what keeps the bytes alive ({len(facts.graph):,} paths, {len(facts.layers)} layers)"
        )
        self.figure_dict = icicle_figure(facts, highlight=self.highlight, title=title)
        # The tree first, then the busy line cleared, then the summary and the views of later cells (worked out
        # only now): the frontend applies updates in order, so the tree is not held up by anything else.
        self._draw()
        self.busy.value = ""
        views = self._views_of(hit)
        self.summary.value = views["summary"]
        self.table.value = views["table"]
        self.views["layers"].widget.value = views["table"]
        for name in ("flags", "merges", "browser"):
            self.views[name].widget.value = views[name]
        self.updates += 1

    def _draw(self) -> None:
        self.plot.figure = self.figure_dict

    def _find_now(self) -> None:
        from .tree import icicle_figure

        if self.tree is None:
            return
        self._explain(quiet=False)
        self.figure_dict = icicle_figure(
            self.tree, highlight=self.highlight, title=self.figure_dict.get("layout", {}).get("title", {}).get("text")
        )
        self._draw()

    def _explain(self, *, quiet: bool) -> None:
        from ..metrics.explain import explain_path, find_paths
        from .render import explanation_html

        query = self.search.value.strip()
        if not query:
            self.explanation.value, self.explained, self.highlight = "", None, None
            return
        found = find_paths(self.tree.graph, query, limit=8)
        if not found:
            self.explained, self.highlight = None, None
            self.explanation.value = (
                f'<span class="ll-explain-none" style="color:#b00020">no path of {html.escape(self.image.value)} '
                f"matches {html.escape(query)}</span>"
            )
            return
        self.explained = explain_path(self.tree, found[0])
        self.highlight = found[0]
        others = [self.tree.graph.names[i] for i in found[1:]]
        self.explanation.value = explanation_html(self.explained, others)

    def find(self, query: str) -> Any:
        """Search for ``query`` now; the best match's :class:`~layerlab.metrics.explain.PathExplanation` (or None).

        Example:
            >>> p = TreePanel("bash-coreutils", "nixery", budget=5)
            >>> p.find("coreutils").name.startswith("coreutils"), 'class="ll-x-reason"' in p.explanation.value
            (True, True)
        """
        self._holding = True
        try:
            self.search.value = query
        finally:
            self._holding = False
        self._find_now()
        return self.explained

    def save(self, path: str | None = None) -> str:
        """Write the configuration (strategy JSON and budget) for ``layerlab group --config``; return the path.

        Example:
            >>> p = TreePanel("bash-coreutils", "nixery", budget=5)
            >>> import os, tempfile
            >>> path = p.save(os.path.join(tempfile.mkdtemp(), "tuned.json"))
            >>> from layerlab.strategies import load_strategy_file
            >>> load_strategy_file(path)[1]
            5
        """
        from ..fileio import atomic_write
        from ..strategies import strategy_file_json
        from ..strategies.export import nix_snippets

        target = path or self.save_name.value.strip() or "layerlab-config.json"
        config = self.controls[0].config()
        try:
            strategy = config.build()
            atomic_write(target, strategy_file_json(strategy, config.budget))
        except (LayerlabError, OSError) as err:
            self.saved.value = f'<span style="color:#b00020">{html.escape(str(err))}</span>'
            raise
        self.saved_path = target
        snippets = nix_snippets(strategy, config.budget)
        parts = [
            f'<div class="ll-saved-note">saved <code>{html.escape(target)}</code>; use it with '
            f"<code>layerlab group GRAPH --config {html.escape(target)}</code></div>"
        ]
        for where, text in snippets.items():
            parts.append(
                f"<div>{html.escape(where)} equivalent:</div>"
                f'<pre class="ll-snippet" style="font-size:12px">{html.escape(text)}</pre>'
            )
        if not snippets:
            parts.append(
                f"<div>{html.escape(strategy.name)} has no nixpkgs or nix2container equivalent; "
                "build with layerlab or use the layers.json of <code>layerlab group</code>.</div>"
            )
        self.saved.value = "".join(parts)
        return target

    @property
    def result(self) -> Any:
        """The :class:`~layerlab.metrics.explain.GroupingFacts` shown."""
        return self.tree

    def snapshot_html(self) -> str:
        """Summary, explanation, the tree as a PNG and the layer table as self-contained HTML (for static renderers).

        Example:
            >>> p = TreePanel("bash-coreutils", "nixery", budget=5)
            >>> p.snapshot_html().startswith("<div class='ll-snapshot'>")
            True
        """
        err = f"<p style='color:#b00020'>{html.escape(self.error)}</p>" if self.error else ""
        parts = (err, self.summary.value, self.explanation.value, self._static_tree(), self.table.value)
        return "<div class='ll-snapshot'>" + "".join(parts) + "</div>"

    def _static_tree(self) -> str:
        fig = self.figure()
        png = base64.b64encode(to_png(fig, dpi=80, compress_level=1)).decode()
        return f'<img alt="dominator tree" style="max-width:100%" src="data:image/png;base64,{png}"/>'

    def figure(self):
        """The tree shown, as a static matplotlib Figure (for files and reports).

        Example:
            >>> p = TreePanel("bash-coreutils", "nixery", budget=5)
            >>> p.figure().axes[0].get_title().startswith("Dominator tree of bash-coreutils")
            True
        """
        from ..plot import dominator_tree

        t = self.tree
        return dominator_tree(t.graph, list(t.layers), idom=t.idom, big=t.big, popular=t.popular)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.snapshot_html()
        bundle["text/plain"] = f"<TreePanel: {self.image.value}, {self.controls[0].config().label()}>"
        return bundle
