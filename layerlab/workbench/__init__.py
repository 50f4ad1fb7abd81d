"""The workbench: notebook panels that tune, explain and compare layerings, and the notebook report.

One module per concern:

* :mod:`~layerlab.workbench.compute`: :class:`Config` → :class:`Outcome` (pure), :class:`OutcomeCache`;
* :mod:`~layerlab.workbench.render`: the panel chart (SVG, matplotlib) and HTML tables;
* :mod:`~layerlab.workbench.controls`: controls generated from a strategy's parameters;
* :mod:`~layerlab.workbench.tree` and :mod:`~layerlab.workbench.plotview`: the interactive tree's figure and
  the widget that redraws it in place;
* :mod:`~layerlab.workbench.panels`: :class:`TunePanel`, :class:`ComparePanel`, :class:`TreePanel`;
* :mod:`~layerlab.workbench.notebooks` and :mod:`~layerlab.workbench.report`: JupyterLab, headless
  execution and the HTML report.

The names below are re-exported for notebooks (``from layerlab.workbench import TunePanel``); the
panels import ipywidgets only when built.

Example:
    >>> from layerlab.workbench import Config
    >>> Config("nixery", budget=10).label()
    'nixery, budget 10'
"""

from __future__ import annotations

from .compute import Config, Outcome, OutcomeCache, evaluate
from .controls import ConfigControls, Debouncer, byte_grid, param_widget
from .panels import ComparePanel, TreePanel, TunePanel
from .render import PanelFigure, chart_svg, layer_table_html, render, summary_html

__all__ = [
    "Config",
    "Outcome",
    "OutcomeCache",
    "evaluate",
    "ConfigControls",
    "Debouncer",
    "byte_grid",
    "param_widget",
    "TunePanel",
    "ComparePanel",
    "TreePanel",
    "PanelFigure",
    "chart_svg",
    "layer_table_html",
    "render",
    "summary_html",
]
