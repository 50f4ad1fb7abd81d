"""A plotly figure that redraws in place: the notebook view of the workbench's interactive tree.

:class:`PlotlyView` is a widget holding one plotly figure (a plain dict, as
:func:`~layerlab.workbench.tree.icicle_figure` returns).  Assigning a new
figure redraws the plot the page already shows with ``Plotly.react``, which
updates the boxes in place; showing the figure through JupyterLab's plotly
output renderer instead builds a new plot on every change and then draws it
twice more (a redraw, and a PNG snapshot for the notebook file).  The
frontend (``plotly_view.js``, an `anywidget <https://anywidget.dev>`_ module)
asks the kernel for the plotly.js of its ``plotly`` package once per page, so
nothing is fetched from a network and the versions match.

After each draw the view's element carries ``data-draws``, the number of
figures it has drawn, for tests and benchmarks to wait on.

Example:
    >>> v = PlotlyView({"data": [{"type": "bar", "y": [1, 2]}]})
    >>> v.figure["data"][0]["type"]
    'bar'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

__all__ = ["PlotlyView", "plotly_js"]


def plotly_js() -> bytes:
    """The plotly.js library of the installed ``plotly`` package, as sent to the frontend.

    Example:
        >>> b"Plotly" in plotly_js()[:2000]
        True
    """
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


class PlotlyView(anywidget.AnyWidget):
    """A widget showing one plotly figure dict; assigning :attr:`figure` redraws it in place.

    Example:
        >>> v = PlotlyView()
        >>> v.figure, v.layout.width
        ({}, '100%')
    """

    _esm = Path(__file__).with_name("plotly_view.js")
    figure = traitlets.Dict().tag(sync=True)

    def __init__(self, figure: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(figure=figure or {}, **kwargs)
        self.layout.width = "100%"
        self.on_msg(self._on_message)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") == "plotly.js":
            self.send({"kind": "plotly.js"}, buffers=[plotly_js()])
