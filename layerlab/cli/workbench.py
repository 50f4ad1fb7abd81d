"""``layerlab workbench``, ``layerlab report`` and ``layerlab plot``.

* ``workbench`` starts JupyterLab on ``notebooks/`` (127.0.0.1, a free port, a
  random token), waits until the server answers and prints the URL to open.
* ``report`` executes every notebook top to bottom with a real kernel
  (``nbclient``) and renders each to HTML in an output directory, plus an
  ``index.html``.  A cell error stops it with one line naming the notebook,
  the cell and the exception.  Panels render as their static snapshot
  (summary, chart, layer table) so the HTML needs no kernel and no network.
* ``plot KIND`` draws one figure of :mod:`layerlab.plot` to a PNG file:
  ``tree`` and ``layers`` for one graph, ``overlap``, ``pull`` and ``sweep``
  for an image set (default: the bundled Debian 30-image set).

The work itself lives in :mod:`layerlab.workbench.notebooks` and
:mod:`layerlab.workbench.report`; this module parses arguments.

Example::

    layerlab workbench                 # prints http://127.0.0.1:PORT/lab?token=...
    layerlab report --out build/report
    layerlab plot tree data/debian/kde-full.graph.json -p data/debian/popularity.json -b 30 -o tree.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import add_strategy_options, configured_strategy, int_list, strategy_from_args, warn_without_popularity

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workbench", help="start JupyterLab on the notebooks and print its URL")
    p.add_argument(
        "--notebooks",
        help="directory to serve (default: notebooks/ of a source checkout, "
        "else a copy of the bundled ones in ./layerlab-notebooks)",
    )
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--token", help="access token (default: a random one)")
    p.add_argument("--open", action="store_true", help="also open a web browser")
    p.set_defaults(func=run_workbench)

    p = sub.add_parser("report", help="execute every notebook headless and render it to HTML")
    p.add_argument("--out", "-o", default="build/report", help="output directory (default build/report)")
    p.add_argument("--notebooks", help="directory of notebooks (default: the bundled ones)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    p.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="only notebooks whose file name contains NAME"
    )
    p.set_defaults(func=run_report_cmd)

    p = sub.add_parser("plot", help="draw a figure to a PNG file")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    k = kinds.add_parser("tree", help="dominator tree of one image, coloured by layer")
    k.add_argument("graph", help="closure graph file (- reads standard input)")
    add_strategy_options(k)
    _out(k)
    k = kinds.add_parser("layers", help="layer sizes of one image")
    k.add_argument("graph", help="closure graph file (- reads standard input)")
    add_strategy_options(k)
    _out(k)
    k = kinds.add_parser("overlap", help="shared bytes between the images of a set (heat map)")
    _imageset_arg(k)
    add_strategy_options(k)
    k.add_argument("--value", choices=("layer_share", "shared_layer_bytes", "shared_path_bytes"), default="layer_share")
    _out(k)
    k = kinds.add_parser("pull", help="pull bytes against budget for several strategies, with the ideal bound")
    _imageset_arg(k)
    k.add_argument(
        "--strategies", default="nixery,nixery-2022,popularity-contest,auto-layer", help="comma-separated names"
    )
    k.add_argument("--budgets", default="5,10,20,30,60,94", help="comma-separated budgets")
    k.add_argument("--rule", choices=("any", "chain"), default="any")
    k.add_argument(
        "--popularity", "-p", metavar="FILE", help="popularity table (default: the image set's own, if it has one)"
    )
    _out(k)
    k = kinds.add_parser("sweep", help="pull bytes over two thresholds of a strategy (heat map)")
    _imageset_arg(k)
    k.add_argument("--strategy", "-s", default="nixery")
    k.add_argument("--budget", "-b", type=int, default=30)
    k.add_argument("--x", default="size_threshold=1M,10M,100M,1G", metavar="PARAM=V1,V2,...")
    k.add_argument("--y", default="popularity_threshold=10,100,1000,10000", metavar="PARAM=V1,V2,...")
    k.add_argument("--rule", choices=("any", "chain"), default="any")
    k.add_argument(
        "--popularity", "-p", metavar="FILE", help="popularity table (default: the image set's own, if it has one)"
    )
    _out(k)
    p.set_defaults(func=run_plot, plot_parser=p)


def _out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", "-o", required=True, help="PNG file to write")
    p.add_argument("--dpi", type=int, default=100)


def _imageset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "imageset", nargs="?", help="directory or manifest of images (default: the bundled Debian 30-image set)"
    )


# ------------------------------------------------------------------ workbench
def run_workbench(args: argparse.Namespace) -> int:
    from ..workbench.notebooks import NOTEBOOK_DIR, require_workbench, run_lab, working_copy

    require_workbench()
    notebooks = args.notebooks or working_copy()
    if args.notebooks is None and Path(notebooks).resolve() != NOTEBOOK_DIR:  # a working copy of installed notebooks
        print(f"layerlab workbench: notebooks in {notebooks}", flush=True)
    return run_lab(
        notebooks,
        port=args.port,
        ip=args.ip,
        token=args.token,
        open_browser=args.open,
        announce=lambda line: print(line, flush=True),
    )


# --------------------------------------------------------------------- report
def run_report_cmd(args: argparse.Namespace) -> int:
    from ..workbench.notebooks import NOTEBOOK_DIR, require_workbench
    from ..workbench.report import run_report

    require_workbench("nbclient", "nbconvert", "ipykernel")
    pages = run_report(args.notebooks or NOTEBOOK_DIR, args.out, timeout=args.timeout, only=args.only, log=sys.stderr)
    print(f"{Path(args.out) / 'index.html'} ({len(pages)} notebooks)")
    return 0


# ----------------------------------------------------------------------- plot
def _load_imageset(args: argparse.Namespace):
    from ..imageset import default_imageset, load_imageset
    from ..popularity import load_popularity

    pop = load_popularity(args.popularity) if getattr(args, "popularity", None) else None
    if args.imageset:
        return load_imageset(args.imageset, popularity=pop)
    s = default_imageset()
    return s.with_popularity(pop) if pop is not None else s


def _parse_axis(text: str, cls: Any, where: str) -> tuple[str, list]:
    from ..errors import ConfigError

    name, sep, values = text.partition("=")
    if not sep or not values:
        raise ConfigError(f"expected PARAM=V1,V2,..., got {text!r}", source=where)
    name = name.strip().replace("-", "_")
    p = cls.param(name)
    return name, [p.coerce(v.strip(), where=where) for v in values.split(",") if v.strip()]


def run_plot(args: argparse.Namespace) -> int:
    from .. import plot
    from ..errors import ConfigError

    if not getattr(args, "kind", None):
        args.plot_parser.print_help()
        return 2
    if args.kind in ("tree", "layers"):
        from ..sources.files import load_graph

        strategy, context = strategy_from_args(args)
        graph = load_graph(args.graph)
        warn_without_popularity(strategy, context.popularity)
        if args.kind == "tree":
            tree = plot.strategy_tree(strategy, graph, context, args.budget)
            fig = plot.dominator_tree(graph, tree.layers, idom=tree.idom, big=tree.big, popular=tree.popular)
        else:
            layers = strategy.group(graph, context, args.budget)
            fig = plot.layer_sizes(
                layers, title=f"{graph.name}: {len(layers)} layers ({strategy.name}, budget {args.budget})"
            )
    elif args.kind == "overlap":
        from ..metrics import layer_imageset
        from ..metrics.overlap import overlap, overlap_matrix
        from ..strategies import Context

        strategy, context = strategy_from_args(args)
        s = _load_imageset(args)
        if context.popularity is None:
            context = Context(popularity=s.popularity)
        warn_without_popularity(strategy, context.popularity)
        frame, _ = overlap(layer_imageset(strategy, s, args.budget, context))
        m = overlap_matrix(frame, args.value)
        as_bytes = args.value != "layer_share"
        label = {
            "layer_share": "shared layer bytes / shared path bytes",
            "shared_layer_bytes": "bytes in identical layers",
            "shared_path_bytes": "bytes of shared paths",
        }[args.value]
        fig = plot.overlap_heatmap(
            m.fillna(0), title=f"{s.name}: {strategy.name}, budget {args.budget}", value_label=label, as_bytes=as_bytes
        )
    elif args.kind == "pull":
        from ..metrics import ideal_bytes
        from ..metrics.sweep import sweep

        s = _load_imageset(args)
        names = [n.strip() for n in args.strategies.split(",") if n.strip()]
        for name in names:
            warn_without_popularity(configured_strategy(name, []), s.popularity)
        budgets = int_list(args.budgets, "--budgets", "budget")
        df = sweep(s, names, budgets, rules=(args.rule,), executor="serial", progress=False)
        curves = {}
        for n, name in enumerate(names):
            rows = df.iloc[n * len(budgets) : (n + 1) * len(budgets)]
            curves[name] = dict(zip(rows["budget"].tolist(), rows["pulled_bytes"].tolist()))
        fig = plot.pull_vs_budget(
            curves, ideal_bytes(s), title=f"Pull bytes over {s.name} ({len(s)} images, {args.rule} rule)"
        )
    elif args.kind == "sweep":
        from ..metrics.sweep import grid, sweep
        from ..strategies import get_strategy, strategy_class

        cls, _ = strategy_class(args.strategy)
        xname, xs = _parse_axis(args.x, cls, "--x")
        yname, ys = _parse_axis(args.y, cls, "--y")
        if xname == yname:
            raise ConfigError("the two axes must be different parameters", source="--y")
        s = _load_imageset(args)
        warn_without_popularity(get_strategy(args.strategy), s.popularity)
        points = grid(get_strategy(args.strategy), {yname: ys, xname: xs})
        df = sweep(s, points, [args.budget], rules=(args.rule,), executor="serial", progress=False)
        values = df["pulled_bytes"].to_numpy().reshape(len(ys), len(xs))
        i, j = divmod(int(values.argmin()), len(xs))
        fig = plot.sweep_heatmap(
            values,
            xs,
            ys,
            x_label=xname.replace("_", " "),
            y_label=yname.replace("_", " "),
            title=f"{s.name}: {args.strategy}, budget {args.budget}, pull bytes ({args.rule})",
            best=(xs[j], ys[i]),
            x_bytes=cls.param(xname).kind == "bytes",
            y_bytes=cls.param(yname).kind == "bytes",
        )
    else:  # pragma: no cover - argparse restricts the choices
        raise ConfigError(f"unknown plot kind {args.kind}")
    plot.save_png(fig, args.out, dpi=args.dpi)
    print(args.out)
    return 0
