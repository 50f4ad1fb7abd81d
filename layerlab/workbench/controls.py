"""Workbench controls generated from a strategy's declared parameters.

:func:`param_widget` builds one control from a
:class:`~layerlab.strategies.base.Param`: byte and log-scaled integer
parameters become selection sliders over a 1-2-5 grid (log scale, readable
labels such as ``100 MB``), other numbers plain sliders, choices dropdowns,
booleans check boxes, optional parameters get an "on" box.
:class:`ConfigControls` holds one configuration's controls and
:class:`Debouncer` turns a burst of slider events into one update.

Example:
    >>> byte_grid(1000, 10000)
    [1000, 2000, 5000, 10000]
"""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ..errors import ConfigError
from ..plot import format_bytes
from ..strategies import available, strategy_class
from ..strategies.base import Param
from .compute import Config

__all__ = ["MAX_BUDGET", "byte_grid", "param_widget", "typed_entry", "Debouncer", "ConfigControls"]

#: Budgets offered by the budget slider (Docker refuses more than 127 layers).
MAX_BUDGET = 127


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


def param_widget(
    param: Param, value: Any = None, *, description_width: str = "170px", on_commit: Callable[[], None] | None = None
) -> tuple[Any, Callable[[], Any]]:
    """A control for one declared parameter, and a function reading its value.

    Byte sizes and ``log`` integers use a :class:`ipywidgets.SelectionSlider`
    over :func:`byte_grid` (1 kB .. 100 GB for bytes, 1 .. 1,000,000 for
    counts, clipped to the declared bounds).  Optional parameters get a check
    box that turns them on; when off the value is ``None``.

    Example:
        >>> from layerlab.strategies.nixery import Nixery
        >>> w, get = param_widget(Nixery.param("size_threshold"))
        >>> w.slider.value, w.slider.options[0][0], get()
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
            options=[(fmt(v), v) for v in grid],
            value=start,
            description=desc,
            style=style,
            layout=W.Layout(width="400px"),
            tooltip=param.help,
            readout=False,
        )
    elif kind == "int":
        lo = int(param.minimum if param.minimum is not None else 0)
        hi = int(
            param.maximum if param.maximum is not None and param.maximum <= 10_000 else max(lo + 100, (value or 0) * 4)
        )
        widget = W.IntSlider(
            value=value if value is not None else lo, min=lo, max=hi, description=desc, style=style, layout=layout
        )
    elif kind == "float":
        lo = float(param.minimum if param.minimum is not None else 0.0)
        hi = float(param.maximum if param.maximum is not None else max(1.0, (value or 1.0) * 4))
        widget = W.FloatSlider(
            value=value if value is not None else (lo + hi) / 2,
            min=lo,
            max=hi,
            step=(hi - lo) / 200,
            description=desc,
            style=style,
            layout=layout,
        )
    elif kind == "bool":
        widget = W.Checkbox(value=bool(value), description=desc, style=style, indent=False)
    elif kind == "choice":
        widget = W.Dropdown(options=list(param.choices), value=value, description=desc, style=style)
    elif kind == "dict":
        widget = W.Text(
            value=orjson.dumps(value or {}).decode(),
            description=desc,
            style=style,
            layout=layout,
            continuous_update=False,
        )
    else:
        widget = W.Text(value=str(value or ""), description=desc, style=style, layout=layout, continuous_update=False)
    widget.tooltip = param.help

    def read_plain() -> Any:
        v = widget.value
        return param.coerce(v, where=f"widget {param.name}") if kind == "dict" else v

    shown: Any = widget
    if isinstance(widget, W.SelectionSlider):
        shown = typed_entry(widget, param, on_commit=on_commit)
    if not param.optional:
        return shown, read_plain
    on = W.Checkbox(value=value is not None, description="on", indent=False, layout=W.Layout(width="60px"))
    widget.disabled = not on.value
    on.observe(lambda ch: setattr(widget, "disabled", not ch["new"]), names="value")
    box = W.HBox([shown, on])
    box.children_value_widgets = (widget, on)
    box.slider = widget
    return box, (lambda: read_plain() if on.value else None)


def typed_entry(slider: Any, param: Param, *, on_commit: Callable[[], None] | None = None) -> Any:
    """A selection slider with a text box beside it that shows its value and accepts a typed one.

    The box shows the slider's label (``100 MB``); typing a value in any form
    the parameter accepts (``20 MB``, ``20M``, ``1.5GiB``, ``20000000``) moves
    the slider there, adding the value to its grid when it is off the grid.  A
    value that does not parse, or lies outside the parameter's range, leaves the
    slider where it was and shows a one-line error under the box, which stays
    until a valid value is typed; the box never goes blank.  ``on_commit`` is
    called just before a typed value moves the slider (a panel uses it to
    update at once: a typed value is one event, not a burst to debounce).

    Returns an ``HBox`` with attributes ``slider``, ``entry`` and ``error``.

    Example:
        >>> from layerlab.strategies.nixery import Nixery
        >>> box, get = param_widget(Nixery.param("size_threshold"))
        >>> box.entry.value = "20 MB"; get(), box.slider.value, box.error.value
        (20000000, 20000000, '')
        >>> box.entry.value = "twenty"; get(), box.entry.value, "size_threshold" in box.error.value
        (20000000, 'twenty', True)
    """
    import ipywidgets as W

    entry = W.Text(
        value=slider.label, continuous_update=False, layout=W.Layout(width="90px"), tooltip="type a value, e.g. 20 MB"
    )
    entry.add_class("ll-entry")
    error = W.HTML()
    error.add_class("ll-entry-error")
    state = {"busy": False}

    def from_slider(change: Any) -> None:
        if not state["busy"] and not _regridding(change):
            entry.value = slider.label
            error.value = ""

    def from_entry(change: Any) -> None:
        text = str(change["new"]).strip()
        if state["busy"] or text == slider.label:
            return
        try:
            value = param.coerce(text.replace(",", "") if param.kind == "int" else text, where=param.name)
            if value is None:
                raise ConfigError(f"{param.name}: a value is required", source="entry")
            state["busy"] = True
            try:
                if on_commit is not None and value != slider.value:
                    on_commit()
                _set_value(slider, value, param.name)
            finally:
                state["busy"] = False
        except ConfigError as err:
            error.value = f'<span style="color:#b00020;font-size:12px">{html.escape(str(err))}</span>'
            return
        error.value = ""
        entry.value = slider.label

    slider.observe(from_slider, names="value")
    entry.observe(from_entry, names="value")
    box = W.VBox([W.HBox([slider, entry]), error])
    box.slider, box.entry, box.error = slider, entry, error
    box.children_value_widgets = (slider,)
    return box


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
        self.urgent = False
        self._getters: dict[str, Callable[[], Any]] = {}
        self.title = W.HTML(f"<b>{html.escape(title)}</b>") if title else None
        self.strategy = W.Dropdown(
            options=list(available()), value=strategy, description="strategy", style={"description_width": "170px"}
        )
        self.budget = W.IntSlider(
            value=budget,
            min=1,
            max=MAX_BUDGET,
            description="budget (layers)",
            style={"description_width": "170px"},
            layout=W.Layout(width="480px"),
        )
        self.budget.add_class("ll-budget")
        self.rule = W.ToggleButtons(
            options=[("any digest", "any"), ("ChainID", "chain")],
            value=rule,
            description="pull rule",
            style={"description_width": "170px", "button_width": "100px"},
        )
        self.param_box = W.VBox([])
        self._build_params(params or {})
        self.strategy.observe(self._strategy_changed, names="value")
        self.budget.observe(self._changed, names="value")
        self.rule.observe(self._changed, names="value")
        parts = [self.strategy, self.param_box, self.budget, self.rule]
        self.widget = W.VBox(([self.title] if self.title else []) + parts)
        self.strategy.add_class("ll-strategy")
        if title:
            self.widget.add_class(f"ll-side-{title}")

    def _build_params(self, overrides: Mapping[str, Any]) -> None:
        cls, preset = strategy_class(self.strategy.value)
        values = {**preset, **overrides}
        children, getters = [], {}
        for p in cls.params:
            w, get = param_widget(p, values.get(p.name, p.default), on_commit=self._commit)
            for target in getattr(w, "children_value_widgets", (w,)):
                target.observe(self._changed, names="value")
            children.append(w)
            getters[p.name] = get
        self._getters = getters
        self.param_box.children = children

    def _commit(self) -> None:
        self.urgent = True

    def take_urgent(self) -> bool:
        """Whether the last change was a typed value (to apply at once, not debounced); clears the flag.

        Example:
            >>> c = ConfigControls("nixery")
            >>> c.param_box.children[0].entry.value = "20 MB"
            >>> c.take_urgent(), c.take_urgent()
            (True, False)
        """
        urgent, self.urgent = self.urgent, False
        return urgent

    def _strategy_changed(self, _change: Any) -> None:
        self._build_params({})
        self._changed(None)

    def _changed(self, change: Any) -> None:
        if self.on_change is not None and not _regridding(change):
            self.on_change()

    def config(self) -> Config:
        """The configuration the controls hold (only values differing from the preset are kept).

        Example:
            >>> ConfigControls("nixery", budget=7, params={"size_threshold": 10**7}).config()
            Config(strategy='nixery', params=(('size_threshold', 10000000),), budget=7, rule='any')
        """
        cls, preset = strategy_class(self.strategy.value)
        params = {}
        for name, get in self._getters.items():
            v = get()
            base = preset.get(name, cls.param(name).default)
            if v != base:
                params[name] = v
        return Config(self.strategy.value, params, int(self.budget.value), self.rule.value)

    def set(self, **values: Any) -> None:
        """Set controls programmatically: ``strategy``, ``budget``, ``rule`` or a parameter name.

        Example:
            >>> c = ConfigControls("nixery")
            >>> c.set(budget=12, merge_mode="resort"); c.config().budget, c.config().values()
            (12, {'merge_mode': 'resort'})
        """
        if "strategy" in values:
            self.strategy.value = values.pop("strategy")
        for key, v in values.items():
            if key == "budget":
                self.budget.value = v
            elif key == "rule":
                self.rule.value = v
            else:
                idx = (
                    [p.name for p in strategy_class(self.strategy.value)[0].params].index(key)
                    if key in self._getters
                    else -1
                )
                if idx < 0:
                    raise ConfigError(
                        f"unknown parameter {key} of strategy {self.strategy.value}", source="ConfigControls.set"
                    )
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
    from traitlets import Bunch, TraitError

    if isinstance(widget, W.Text) and not isinstance(value, str):
        value = orjson.dumps(value).decode()
    if isinstance(widget, W.SelectionSlider) and value not in [v for _, v in widget.options]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{name}={value!r} is not a valid value", source="ConfigControls.set")
        fmt: Callable[[int], str] = format_bytes if widget.options[0][0].endswith("B") else _int_label
        grid = sorted({*(v for _, v in widget.options), value})
        # New options make the slider select its first one before the value is set: observers skip that step
        # (see _regridding), so a panel regroups once, for the value typed, and the frontend gets one update.
        old = widget.value
        widget.regridding = True
        try:
            with widget.hold_sync():
                widget.options = [(fmt(v), v) for v in grid]
        finally:
            widget.regridding = False
        if widget.value == value != old:  # the value typed is the first option: the skipped event was the one
            widget.notify_change(Bunch(name="value", old=old, new=value, owner=widget, type="change"))
    try:
        widget.value = value
    except (TraitError, ValueError) as err:
        raise ConfigError(f"{name}={value!r} is not a valid value ({err})", source="ConfigControls.set") from None


def _regridding(change: Any) -> bool:
    """Whether a change event comes from a selection slider whose options :func:`_set_value` is replacing.

    Example:
        >>> import ipywidgets as W
        >>> s = W.SelectionSlider(options=[("1 B", 1), ("2 B", 2)], value=2); seen = []
        >>> s.observe(lambda ch: seen.append(_regridding(ch)), names="value")
        >>> _set_value(s, 3, "x"); s.value, seen
        (3, [True, False])
    """
    owner = change.get("owner") if isinstance(change, Mapping) else None
    return bool(getattr(owner, "regridding", False))
