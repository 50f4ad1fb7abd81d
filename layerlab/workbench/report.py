"""The HTML report: every notebook executed headless and rendered to a standalone page.

:func:`run_report` executes each notebook (:func:`~layerlab.workbench.notebooks.execute_notebook`)
and writes ``<name>.html`` plus an ``index.html``.  Panels render as their
static snapshot (summary, chart, layer table) so the HTML needs no kernel and
no network.

``run_report("notebooks", "build/report")`` writes ``build/report/01-tune-thresholds.html`` and so on.

Example:
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Pull costs")])
    >>> _title(nb), 'id="Pull-costs">Pull costs' in render_html(nb)
    ('Pull costs', True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..fileio import atomic_write
from .notebooks import execute_notebook, notebooks_in

__all__ = ["render_html", "run_report"]


def render_html(nb: Any) -> str:
    """An executed notebook as standalone HTML (lab template, panels as static snapshots).

    Example:
        >>> import nbformat
        >>> render_html(nbformat.v4.new_notebook()).lstrip().startswith("<!DOCTYPE html>")
        True
    """
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    c = Config()
    # Prefer the panels' HTML snapshot over the live widget view, which needs a kernel and a CDN.
    c.NbConvertBase.display_data_priority = [
        "text/html",
        "text/markdown",
        "image/svg+xml",
        "image/png",
        "image/jpeg",
        "text/latex",
        "text/plain",
    ]
    exporter = HTMLExporter(config=c, template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    return body


def run_report(
    notebooks: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    timeout: int = 600,
    only: list[str] | tuple[str, ...] = (),
    log: Any = None,
) -> list[Path]:
    """Execute every notebook and write ``<name>.html`` plus ``index.html`` to ``out``; return the pages.

    Example:
        >>> pages = run_report("notebooks", "build/report")  # doctest: +SKIP
        >>> run_report("/nonexistent", "/tmp/out")
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: /nonexistent: no such directory
    """
    import html
    import time

    paths = notebooks_in(notebooks, only)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    pages = []
    rows = []
    for p in paths:
        t = time.monotonic()
        nb = execute_notebook(p, timeout=timeout)
        page = outdir / (p.stem + ".html")
        atomic_write(page, render_html(nb).encode())
        took = time.monotonic() - t
        pages.append(page)
        title = _title(nb) or p.stem
        link = f'<a href="{html.escape(page.name)}">{html.escape(title)}</a>'
        rows.append(f"<li>{link} <small>({p.name}, {took:.1f} s)</small></li>")
        if log is not None:
            print(f"layerlab report: {p.name} -> {page} ({took:.1f} s)", file=log, flush=True)
    index = (
        "<!doctype html><html><head><meta charset='utf-8'><title>layerlab report</title></head>"
        "<body style='font-family:sans-serif;max-width:50em;margin:2em auto'><h1>layerlab notebooks</h1><ul>"
        + "".join(rows)
        + "</ul></body></html>\n"
    )
    atomic_write(outdir / "index.html", index.encode())
    return pages


def _title(nb: Any) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""
