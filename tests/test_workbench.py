"""Notebook panels: controls generated from Params, the pure compute step, live updates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import ipywidgets as W
import pytest

from layerlab.errors import ConfigError
from layerlab.graph import ClosureGraph
from layerlab.imageset import ImageSet
from layerlab.strategies import strategy_class
from layerlab.strategies.base import Param
from layerlab.strategies.nixery import Nixery
from layerlab.workbench import (
    ComparePanel,
    Config,
    ConfigControls,
    Debouncer,
    OutcomeCache,
    TreePanel,
    TunePanel,
    byte_grid,
    evaluate,
    layer_table_html,
    param_widget,
    summary_html,
)

S = "/nix/store/"


@pytest.fixture(scope="module")
def two() -> ImageSet:
    """Two images sharing a 100-byte library: a(10) -> lib, b(20) -> lib."""
    a = ClosureGraph.from_records(
        [
            {"path": S + "a-app-a-1", "narSize": 10, "references": [S + "l-lib-1"]},
            {"path": S + "l-lib-1", "narSize": 100},
        ],
        [S + "a-app-a-1"],
        name="a",
    )
    b = ClosureGraph.from_records(
        [
            {"path": S + "b-app-b-1", "narSize": 20, "references": [S + "l-lib-1"]},
            {"path": S + "l-lib-1", "narSize": 100},
        ],
        [S + "b-app-b-1"],
        name="b",
    )
    return ImageSet.from_graphs([a, b], name="two")


# ------------------------------------------------------------------ controls
def test_byte_grid() -> None:
    assert byte_grid(1000, 10_000) == [1000, 2000, 5000, 10_000]
    assert byte_grid(3, 60, extra=[7, 1000]) == [5, 7, 10, 20, 50]


def test_bytes_param_is_a_log_selection_slider() -> None:
    box, get = param_widget(Nixery.param("size_threshold"))
    w = box.slider
    assert isinstance(w, W.SelectionSlider) and not w.readout and box.entry.value == "100 MB"
    labels = [label for label, _ in w.options]
    values = [v for _, v in w.options]
    assert labels[0] == "1 kB" and labels[-1] == "100 GB" and "100 MB" in labels
    assert values == sorted(values) and values[:3] == [1000, 2000, 5000]
    assert get() == 100_000_000
    w.value = 5_000_000
    assert get() == 5_000_000


def test_log_int_param_and_value_off_grid() -> None:
    box, get = param_widget(Nixery.param("popularity_threshold"), 1234)
    w = box.slider
    assert isinstance(w, W.SelectionSlider) and box.entry.value == "1,234"
    values = [v for _, v in w.options]
    assert values[0] == 1 and values[-1] == 1_000_000 and 1234 in values
    assert dict(w.options)["1,234"] == 1234 and get() == 1234


def test_typed_values_move_the_slider_or_show_an_error() -> None:
    changes = []
    c = ConfigControls("nixery", on_change=lambda: changes.append(1))
    box = c.param_box.children[0]
    box.entry.value = "20 MB"  # off the 1-2-5 grid: joins it
    assert c.config().values() == {"size_threshold": 20_000_000} and box.slider.label == "20 MB" and changes
    box.entry.value = "1.5GiB"
    assert c.config().values() == {"size_threshold": 1_610_612_736} and box.entry.value == "1.61 GB"
    before = len(changes)
    box.entry.value = "twenty megabytes"
    assert c.config().values() == {"size_threshold": 1_610_612_736} and len(changes) == before
    assert box.entry.value == "twenty megabytes" and "is not a valid bytes" in box.error.value
    box.entry.value = "-5"
    assert "size_threshold=-5 is below the minimum 0" in box.error.value
    box.slider.value = 100_000_000  # moving the slider clears the error and shows the value
    assert box.error.value == "" and box.entry.value == "100 MB"
    pop = c.param_box.children[2]
    pop.entry.value = "2,500"
    assert c.config().values() == {"popularity_threshold": 2500}


def test_optional_float_param_has_an_on_switch() -> None:
    box, get = param_widget(Nixery.param("popularity_percentile"))
    slider, on = box.children
    assert isinstance(slider, W.FloatSlider) and (slider.min, slider.max) == (0, 100)
    assert get() is None and slider.disabled
    on.value = True
    slider.value = 99.0
    assert get() == 99.0 and not slider.disabled


def test_bool_choice_dict_str_params() -> None:
    w, get = param_widget(Nixery.param("popularity_by_name"))
    assert isinstance(w, W.Checkbox) and get() is False
    w, get = param_widget(Nixery.param("merge_mode"))
    assert isinstance(w, W.Dropdown) and list(w.options) == ["seed", "resort"] and get() == "seed"
    w, get = param_widget(Nixery.param("forced_popularity"), {"iana-etc*": 5})
    assert isinstance(w, W.Text) and get() == {"iana-etc*": 5}
    w.value = '{"b": 2, "a": 1}'
    assert list(get()) == ["a", "b"]
    w.value = "{not json"
    with pytest.raises(ConfigError, match="forced_popularity"):
        get()
    w, get = param_widget(Param("pipeline", "str", "[]"))
    assert isinstance(w, W.Text) and get() == "[]"
    w, get = param_widget(Param("n", "int", 5, minimum=1, maximum=50))
    assert isinstance(w, W.IntSlider) and (w.min, w.max, w.value) == (1, 50, 5)


def test_controls_follow_the_strategy_declaration() -> None:
    changes = []
    c = ConfigControls("nixery", budget=12, on_change=lambda: changes.append(1))
    assert [getattr(w, "slider", w).description for w in c.param_box.children[:3]] == [
        "size threshold",
        "size measure",
        "popularity threshold",
    ]
    assert c.config() == Config("nixery", {}, 12)
    c.budget.value = 7
    assert changes and c.config().budget == 7
    c.strategy.value = "popularity-contest"
    cls, _ = strategy_class("popularity-contest")
    assert len(c.param_box.children) == len(cls.params)
    assert c.config().strategy == "popularity-contest" and c.config().values() == {}
    c.set(strategy="nixery", size_threshold=10_000_000)
    assert c.config().values() == {"size_threshold": 10_000_000}
    with pytest.raises(ConfigError, match="unknown parameter nope"):
        c.set(nope=1)
    # A value off the slider's 1-2-5 grid joins the grid.
    c.set(size_threshold=3_000_000)
    assert c.config().values() == {"size_threshold": 3_000_000}
    assert ("3 MB", 3_000_000) in c.param_box.children[0].slider.options
    with pytest.raises(ConfigError, match="merge_mode='sideways' is not a valid value"):
        c.set(merge_mode="sideways")


def test_controls_of_a_preset_keep_only_differences() -> None:
    c = ConfigControls("nixery-2022")
    assert c.config().values() == {}
    c.set(popularity_threshold=1000)
    assert c.config().values() == {"popularity_threshold": 1000}
    assert c.config().build().forced_popularity == {"iana-etc*": 500000, "nss-cacert*": 500000}


# ------------------------------------------------------------------- compute
def test_config_is_hashable_and_labelled() -> None:
    a = Config("nixery", {"forced_popularity": {"x": 1}, "size_threshold": 10**7}, 30)
    b = Config("nixery", {"size_threshold": 10**7, "forced_popularity": {"x": 1}}, 30)
    assert a == b and hash(a) == hash(b)
    assert a.values() == {"forced_popularity": {"x": 1}, "size_threshold": 10**7}
    assert a.label() == "nixery, budget 30, forced_popularity={'x': 1}, size_threshold=10 MB"
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        Config("nope").build()


def test_evaluate_by_hand(two: ImageSet) -> None:
    # One layer per image: a = {app-a, lib} 110 bytes, b = {app-b, lib} 120 bytes, nothing shared.
    out = evaluate(two, Config("single-layer", budget=5), "a")
    assert (out.layer_count, out.pulled_bytes, out.ideal_bytes) == (1, 230, 130)
    assert out.ratio == pytest.approx(230 / 130)
    assert out.cumulative == (110, 230) and out.cumulative_ideal == (110, 130)
    assert out.largest_share == 1.0 and out.image_bytes == 110
    # One layer per path: lib is shared, so b only pulls its own 20 bytes.
    out = evaluate(two, Config("per-path", budget=5))
    assert out.image == "b"  # the largest image by default
    assert (out.layer_count, out.pulled_bytes) == (2, 130)
    assert out.with_image("a").layers[0].paths in ((S + "a-app-a-1",), (S + "l-lib-1",))
    # The ChainID rule: b's layers are [lib, app-b] only if lib comes first.
    chain = evaluate(two, Config("per-path", budget=5, rule="chain"))
    assert chain.pull["rule"] == "chain" and chain.pulled_bytes in (130, 230)
    with pytest.raises(ConfigError, match="no image 'zzz'"):
        evaluate(two, Config("per-path"), "zzz")


def test_evaluator_memoises_per_config(two: ImageSet) -> None:
    ev = OutcomeCache(two, size=2)
    a = ev(Config("per-path", budget=5), "a")
    b = ev(Config("per-path", budget=5), "b")
    assert a.layering is b.layering and ev.misses == 1
    ev(Config("single-layer", budget=5))
    ev(Config("per-path", budget=4))
    assert ev.misses == 3
    ev(Config("per-path", budget=5))  # evicted: the memo holds two entries
    assert ev.misses == 4


def test_summary_and_table_html(two: ImageSet) -> None:
    a = evaluate(two, Config("single-layer", budget=5), "a")
    b = evaluate(two, Config("per-path", budget=5), "a")
    html = summary_html([("A", a), ("B", b)])
    assert '<td class="ll-layers">1</td><td class="ll-layers">2</td>' in html
    assert '<td class="ll-pull">230 B</td><td class="ll-pull">130 B</td>' in html
    assert '<td class="ll-ratio">1.769×</td><td class="ll-ratio">1.000×</td>' in html
    table = layer_table_html(b.layers, top=1)
    assert table.count("<tr>") == 2 and "lib-1" in table and "1 smaller layers not shown" in table


# -------------------------------------------------------------------- panels
def test_tune_panel_updates_on_change(two: ImageSet) -> None:
    p = TunePanel(two, "per-path", budget=5, image="a")
    assert (p.result.layer_count, p.result.pulled_bytes) == (2, 130)
    assert p.imageset.value == "two" and list(p.image.options) == ["a", "b"]
    first_chart = p.chart.value
    assert first_chart.startswith("<svg") and first_chart.count('class="ll-bar"') == 2
    assert 'class="ll-pull">130 B<' in p.summary.value
    # Moving the budget slider (no event loop here: the update runs at once).
    p.controls[0].budget.value = 1
    assert p.updates == 2
    assert (p.result.layer_count, p.result.pulled_bytes) == (1, 230)
    assert 'class="ll-layers">1<' in p.summary.value and p.chart.value.count('class="ll-bar"') == 1
    assert "pulled: 230 B" in p.chart.value and "ideal: 130 B" in p.chart.value
    p.set(image="b")
    assert p.result.image == "b" and "app-b-1" in p.table.value
    p.set(strategy="nixery", budget=3)
    assert p.result.config.strategy == "nixery"


def test_panel_shows_errors_and_keeps_the_last_result(two: ImageSet) -> None:
    p = TunePanel(two, "nixery", budget=5)
    before = p.result
    p.set(forced_popularity="{bad")
    assert p.error is not None and "forced_popularity" in p.error
    assert "forced_popularity" in p.status.value and p.result is before
    p.set(forced_popularity="{}")
    assert p.error is None and p.status.value == ""


def test_panel_mimebundle_has_a_static_fallback(two: ImageSet) -> None:
    p = TunePanel(two, "per-path", budget=5)
    bundle = p._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "<svg" in bundle["text/html"] and 'class="ll-pull">130 B<' in bundle["text/html"]
    assert bundle["text/plain"] == "<TunePanel: per-path, budget 5>"


def test_compare_panel_two_sides(two: ImageSet) -> None:
    p = ComparePanel(two, a={"strategy": "single-layer", "budget": 5}, b={"strategy": "per-path", "budget": 5})
    assert [o.pulled_bytes for o in p.outcomes] == [230, 130]
    assert p.summary.value.count('class="ll-pull"') == 2
    # One stacked bar per side: single-layer has 1 segment, per-path 2.
    assert p.chart.value.count('class="ll-bar"') == 3 and "A: 230 B" in p.chart.value and "B: 130 B" in p.chart.value
    fig = p.figure()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["A", "B"]
    p.set_side("B", budget=1)
    assert [o.pulled_bytes for o in p.outcomes] == [230, 230]
    with pytest.raises(ConfigError, match="side must be A or B"):
        p.set_side("C", budget=1)


def test_bundled_kde_panel(data_dir) -> None:
    p = TunePanel("kde-full", "nixery", budget=30)
    assert p.result.image == "kde-full" and p.result.layer_count == 30
    assert p.result.pulled_bytes == p.result.ideal_bytes == 3_067_510_784  # one image: everything is new
    p.set(budget=10)
    assert p.result.layer_count == 10 and p.chart.value.count('class="ll-bar"') == 10
    assert len(p.figure().axes[0].patches) == 10


def test_debouncer_runs_once_after_a_burst() -> None:
    calls: list[int] = []

    async def burst() -> None:
        d = Debouncer(0.05, lambda: calls.append(1))
        for _ in range(5):
            d()
            await asyncio.sleep(0.01)
        assert calls == []
        await asyncio.sleep(0.2)

    asyncio.run(burst())
    assert calls == [1]


def test_tree_panel(two: ImageSet) -> None:
    # Image b: app-b (20 bytes, closure 120) -> lib (100 bytes); both closures exceed 50 bytes, so both are big.
    p = TreePanel(two, "nixery", budget=2, params={"size_threshold": 50})
    assert p.image.value == "b" and p.tree.big == (0, 1) and p.tree.popular == ()
    assert 'class="ll-big">2<' in p.summary.value and 'class="ll-layers">2<' in p.summary.value
    trace = p.figure_dict["data"][0]
    assert (
        trace["type"] == "icicle"
        and trace["ids"] == ["image", "p1", "p0"]
        and trace["parents"] == ["", "image", "image"]
    )
    assert p.plot.figure is p.figure_dict
    assert "app-b-1" in p.table.value
    assert p.controls[0].rule.layout.display == "none"
    p.set(budget=1)
    assert len(p.tree.layers) == 1 and 'class="ll-catch-all">100% of the image<' in p.summary.value
    fig = p.figure()
    assert fig.axes[0].get_title() == "Dominator tree of b: 2 paths, 120 B, 1 layers"
    p.set(image="a", budget=2)
    assert p.tree.big == (0, 1) and "app-a-1" in p.table.value
    assert p._repr_mimebundle_()["text/plain"] == "<TreePanel: a, nixery, budget 2, size_threshold=50 B>"
    p.set(size_threshold=500)  # nothing big: one dominator layer holding both paths
    assert p.tree.big == () and len(p.tree.layers) == 1


def test_initial_values_outside_the_slider_range_are_kept() -> None:
    w, get = param_widget(Nixery.param("size_threshold"), 50)
    assert w.slider.options[0] == ("50 B", 50) and get() == 50
    w, get = param_widget(Nixery.param("popularity_threshold"), 0)
    assert w.slider.options[0] == ("0", 0) and get() == 0


def test_typed_values_apply_at_once_slider_moves_wait(two: ImageSet) -> None:
    async def run() -> None:
        p = TreePanel(two, "nixery", budget=2, debounce=30)  # inside a loop: slider moves wait for the debounce
        before = p.updates
        box = p.controls[0].param_box.children[0]
        box.slider.value = 5_000  # a slider move: debounced, shows the busy line
        assert p.updates == before and "regrouping" in p.busy.value
        box.entry.value = "50 B"  # a typed value: applied at once
        assert p.updates == before + 1 and p.busy.value == "" and p.tree.big == (0, 1)

    asyncio.run(run())


def test_a_typed_value_off_the_grid_regroups_once_with_that_value(two: ImageSet) -> None:
    async def run() -> None:
        p = TreePanel(two, "nixery", budget=2, debounce=30)
        seen: list[object] = []
        refresh = p.refresh
        p.refresh = lambda: (seen.append(p.controls[0].config().values()), refresh())  # type: ignore[method-assign]
        p._debounced.fn = p.refresh
        box = p.controls[0].param_box.children[0]
        box.entry.value = "7 kB"  # off the grid, inside it: the slider's options are replaced first
        assert seen == [{"size_threshold": 7_000}] and box.slider.value == 7_000 and box.entry.value == "7 kB"
        assert p._debounced._handle is None  # no second regrouping waiting
        entries: list[str] = []
        box.entry.observe(lambda ch: entries.append(ch["new"]), names="value")
        p.set(size_threshold=3_000)  # set from code: the box never shows the first option on the way
        assert seen[1:] == [{"size_threshold": 3_000}] and entries == ["3 kB"]

    asyncio.run(run())


def test_plot_view_hands_its_frontend_the_plotly_library_on_request() -> None:
    from layerlab.workbench.plotview import PlotlyView

    v = PlotlyView({"data": [{"type": "icicle", "ids": ["a"], "parents": [""], "values": [1]}]})
    sent: list[tuple[object, object]] = []
    v.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    v._handle_custom_msg({"kind": "something else"}, [])
    assert sent == []
    v._handle_custom_msg({"kind": "plotly.js"}, [])  # what the frontend sends once per page
    ((content, buffers),) = sent
    assert content == {"kind": "plotly.js"} and buffers[0].startswith(b"/**\n* plotly.js v")  # type: ignore[index]
    from layerlab.workbench import plotview

    assert "Plotly.react" in Path(plotview.__file__).with_name("plotly_view.js").read_text() == str(v._esm)
