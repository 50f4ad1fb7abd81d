"""Speed of a slider move in the tune panel (target: under 300 ms on kde-full).

What is timed is the panel's whole callback, :meth:`layerlab.workbench.TunePanel.set`
without a frontend: regroup every image of the set with the new parameter,
compute the pull metrics, rebuild the chart (inline SVG), the summary and the
layer table.  Every step uses a parameter value not seen before, so no memo
hits (a memo hit, going back to an earlier slider position, is reported
separately).

Baselines, in the same run, for the same updates:

* **matplotlib redraw**: the same grouping and metrics, then the chart redrawn
  with matplotlib into one persistent figure and encoded as PNG
  (:class:`layerlab.workbench.PanelFigure`), the panel's first design;
* **full re-render**: a new matplotlib figure per update (constrained layout,
  default PNG compression), what ``clear_output(); display(fig)`` code does.

Image sets: ``kde-full`` (one 1,189-path image: the target), ``debian-30``
(the notebook's default, 30 images) and ``debian-30+kde`` (31 images).

Run: ``.venv/bin/python benchmarks/bench_widget.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _report import record

from layerlab.plot import to_png
from layerlab.workbench import Config, PanelFigure, TunePanel, chart_svg, evaluate, layer_table_html, summary_html

SIZES = [10**6, 2 * 10**6, 5 * 10**6, 10**7, 2 * 10**7, 5 * 10**7, 2 * 10**8, 5 * 10**8, 10**9, 2 * 10**9]
BUDGETS = [94, 60, 40, 20, 10, 5]
TARGET_MS = 300


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"


def bench(name: str) -> None:
    panel = TunePanel(name, "nixery", budget=30)
    panel.set(size_threshold=SIZES[0] * 3)  # warm up: imports, fonts, first draw
    steps = [{"size_threshold": v} for v in SIZES] + [{"budget": b} for b in BUDGETS]
    times = []
    for step in steps:
        t = time.perf_counter()
        panel.set(**step)
        times.append(time.perf_counter() - t)
    med, worst = statistics.median(times), max(times)

    # Where the time goes, for the last configuration.
    imageset = panel._evaluator(name).imageset
    config = panel.result.config
    t = time.perf_counter()
    out = evaluate(imageset, config, panel.result.image)
    t_compute = time.perf_counter() - t
    t = time.perf_counter()
    chart_svg([("value", out)])
    t_svg = time.perf_counter() - t

    # A memo hit: back to a previous slider position.
    t = time.perf_counter()
    panel.set(budget=BUDGETS[0])
    t_hit = time.perf_counter() - t

    def update(cfg: Config, figure: PanelFigure | None) -> None:
        o = evaluate(imageset, cfg, panel.result.image)
        if figure is None:  # full re-render
            fresh = PanelFigure()
            fresh.figure.set_layout_engine("constrained")
            fresh.draw([("value", o)])
            to_png(fresh.figure, dpi=90)
        else:
            figure.render([("value", o)])
        summary_html([("value", o)])
        layer_table_html(o.layers)

    persistent = PanelFigure()
    redraw, full = [], []
    for step in steps:
        cfg = Config("nixery", {"size_threshold": step.get("size_threshold", SIZES[-1])}, step.get("budget", 30))
        for figure, sink in ((persistent, redraw), (None, full)):
            t = time.perf_counter()
            update(cfg, figure)
            sink.append(time.perf_counter() - t)
    redraw_med, full_med = statistics.median(redraw), statistics.median(full)

    paths = sum(len(img.graph) for img in imageset.images)
    verdict = "ok" if med < TARGET_MS / 1e3 else "OVER TARGET"
    print(
        f"{name} ({len(imageset)} images, {paths:,} paths): slider move {ms(med)} median, {ms(worst)} worst "
        f"over {len(steps)} moves; target < {TARGET_MS} ms: {verdict}"
    )
    print(
        f"  of which grouping + metrics {ms(t_compute)}, SVG chart {t_svg * 1e3:.1f} ms; memo hit {t_hit * 1e3:.1f} ms"
    )
    print(
        f"  baseline matplotlib redraw (persistent figure): {ms(redraw_med)} median -> {redraw_med / med:.1f}x faster"
    )
    print(f"  baseline full re-render (new figure per update): {ms(full_med)} median -> {full_med / med:.1f}x faster")
    figure = f"tune-panel slider move on {name} ({len(imageset)} images)"
    note = f"median of {len(steps)} moves"
    record(
        figure,
        med * 1e3,
        "ms",
        baseline="matplotlib redraw of a persistent figure",
        baseline_value=redraw_med * 1e3,
        goal=f"< {TARGET_MS} ms",
        note=note,
    )
    record(
        f"{figure}, against a full re-render",
        med * 1e3,
        "ms",
        baseline="a new matplotlib figure per update",
        baseline_value=full_med * 1e3,
        goal=f"< {TARGET_MS} ms",
        note=note,
    )


def main() -> int:
    for name in ("kde-full", "debian-30", "debian-30+kde"):
        bench(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
