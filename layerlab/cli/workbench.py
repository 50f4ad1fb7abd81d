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

The notebooks run in the kernel named ``python3``; Jupyter replaces its
``python`` command by the interpreter running the server or the report, so
the kernel uses the same virtual environment as ``layerlab`` itself.

Example::

    layerlab workbench                 # prints http://127.0.0.1:PORT/lab?token=...
    layerlab report --out build/report
    layerlab plot tree data/debian/kde-full.graph.json -p data/debian/popularity.json -b 30 -o tree.png
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ._common import add_strategy_options, atomic_write, strategy_from_args

__all__ = [
    "register",
    "NOTEBOOK_DIR",
    "free_port",
    "execute_notebook",
    "render_html",
    "run_report",
    "jupyter_command",
]

#: The notebooks shipped with layerlab.
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent.parent / "notebooks"

#: The kernel the notebooks run in.
KERNEL_NAME = "python3"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workbench", help="start JupyterLab on the notebooks and print its URL")
    p.add_argument("--notebooks", default=str(NOTEBOOK_DIR), help="directory to serve (default: the bundled notebooks)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--token", help="access token (default: a random one)")
    p.add_argument("--open", action="store_true", help="also open a web browser")
    p.set_defaults(func=run_workbench)

    p = sub.add_parser("report", help="execute every notebook headless and render it to HTML")
    p.add_argument("--out", "-o", default="build/report", help="output directory (default build/report)")
    p.add_argument("--notebooks", default=str(NOTEBOOK_DIR), help="directory of notebooks (default: the bundled ones)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="only notebooks whose file name contains NAME")
    p.set_defaults(func=run_report_cmd)

    p = sub.add_parser("plot", help="draw a figure to a PNG file")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    k = kinds.add_parser("tree", help="dominator tree of one image, coloured by layer")
    k.add_argument("graph")
    add_strategy_options(k)
    _out(k)
    k = kinds.add_parser("layers", help="layer sizes of one image")
    k.add_argument("graph")
    add_strategy_options(k)
    _out(k)
    k = kinds.add_parser("overlap", help="shared bytes between the images of a set (heat map)")
    _imageset_arg(k)
    add_strategy_options(k)
    k.add_argument("--value", choices=("layer_share", "shared_layer_bytes", "shared_path_bytes"), default="layer_share")
    _out(k)
    k = kinds.add_parser("pull", help="pull bytes against budget for several strategies, with the ideal bound")
    _imageset_arg(k)
    k.add_argument("--strategies", default="nixery,nixery-2022,popularity-contest,auto-layer", help="comma-separated names")
    k.add_argument("--budgets", default="5,10,20,30,60,94", help="comma-separated budgets")
    k.add_argument("--rule", choices=("any", "chain"), default="any")
    k.add_argument("--popularity", "-p", metavar="FILE", help="popularity table (default: the image set's)")
    _out(k)
    k = kinds.add_parser("sweep", help="pull bytes over two thresholds of a strategy (heat map)")
    _imageset_arg(k)
    k.add_argument("--strategy", "-s", default="nixery")
    k.add_argument("--budget", "-b", type=int, default=30)
    k.add_argument("--x", default="size_threshold=1M,10M,100M,1G", metavar="PARAM=V1,V2,...")
    k.add_argument("--y", default="popularity_threshold=10,100,1000,10000", metavar="PARAM=V1,V2,...")
    k.add_argument("--rule", choices=("any", "chain"), default="any")
    k.add_argument("--popularity", "-p", metavar="FILE", help="popularity table (default: the image set's)")
    _out(k)
    p.set_defaults(func=run_plot, plot_parser=p)


def _out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", "-o", required=True, help="PNG file to write")
    p.add_argument("--dpi", type=int, default=100)


def _imageset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("imageset", nargs="?", help="directory or manifest of images (default: the bundled Debian 30-image set)")


# ------------------------------------------------------------------ workbench
def free_port(ip: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now.

    Example:
        >>> 1024 <= free_port() < 65536
        True
    """
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def jupyter_command(notebooks: str | os.PathLike[str], port: int, token: str, *, ip: str = "127.0.0.1", open_browser: bool = False) -> list[str]:
    """The command line starting JupyterLab on ``notebooks`` with this interpreter.

    Example:
        >>> cmd = jupyter_command("nb", 8888, "t")
        >>> cmd[1:3], "--ServerApp.port=8888" in cmd, "--IdentityProvider.token=t" in cmd
        (['-m', 'jupyterlab'], True, True)
    """
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={os.fspath(notebooks)}",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=" + ("True" if open_browser else "False"),
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")
    return cmd


def wait_for_server(url: str, token: str, proc: Any, timeout: float = 120.0) -> None:
    """Poll ``url/api/status`` until the server answers.

    Raises:
        LayerlabError: the server exited or did not answer within ``timeout``.
    """
    import time

    import requests

    from ..errors import LayerlabError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LayerlabError(f"JupyterLab exited with status {proc.returncode} before it answered", source=url)
        try:
            r = requests.get(f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2)
            if r.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise LayerlabError(f"JupyterLab did not answer within {timeout:.0f} s", source=url)


def run_workbench(args: argparse.Namespace) -> int:
    import secrets
    import signal
    import subprocess

    from ..errors import ConfigError

    notebooks = Path(args.notebooks)
    if not notebooks.is_dir():
        raise ConfigError("no such directory", source=str(notebooks))
    port = args.port or free_port(args.ip)
    token = args.token or secrets.token_hex(16)
    cmd = jupyter_command(notebooks, port, token, ip=args.ip, open_browser=args.open)
    proc = subprocess.Popen(cmd)
    url = f"http://{args.ip}:{port}"
    try:
        wait_for_server(url, token, proc)
        print(f"layerlab workbench: {url}/lab?token={token}", flush=True)
        print("Stop it with Ctrl-C.", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


# --------------------------------------------------------------------- report
def execute_notebook(path: str | os.PathLike[str], *, timeout: int = 600, kernel_name: str = KERNEL_NAME):
    """Run a notebook top to bottom in a fresh kernel; return the executed notebook.

    The kernel's working directory is the notebook's directory.

    Raises:
        LayerlabError: a cell raised (the message names the notebook, the cell
            number and the exception) or the notebook cannot be read.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from ..errors import InputError, LayerlabError

    p = Path(path)
    try:
        nb = nbformat.read(p, as_version=4)
    except (OSError, nbformat.reader.NotJSONError, ValueError) as err:
        raise InputError(f"cannot read notebook: {err}", source=str(p)) from None
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(p.parent.resolve())}},
        store_widget_state=False,
    )
    try:
        client.execute()
    except CellExecutionError as err:
        cell = _failed_cell(nb)
        line = f"{err.ename}: {err.evalue}".strip().splitlines()[0] if err.ename else str(err).strip().splitlines()[-1]
        raise LayerlabError(f"cell {cell} failed: {line}", source=str(p)) from None
    except (CellTimeoutError, DeadKernelError) as err:
        raise LayerlabError(f"cell {_failed_cell(nb)}: {type(err).__name__}: {str(err).splitlines()[0]}", source=str(p)) from None
    return nb


def _failed_cell(nb: Any) -> int:
    for n, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", ())):
            return n
    last = [n for n, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
    return last[-1] if last else 0


def render_html(nb: Any) -> str:
    """An executed notebook as standalone HTML (lab template, panels as static snapshots)."""
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


def notebooks_in(directory: str | os.PathLike[str], only: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The notebooks of a directory, in file-name order (checkpoints skipped).

    Raises:
        ConfigError: the directory does not exist or holds no notebook.
    """
    from ..errors import ConfigError

    d = Path(directory)
    if not d.is_dir():
        raise ConfigError("no such directory", source=str(d))
    found = sorted(p for p in d.glob("*.ipynb") if not p.name.startswith("."))
    if only:
        found = [p for p in found if any(o in p.stem for o in only)]
    if not found:
        raise ConfigError("no notebooks found" + (f" matching {', '.join(only)}" if only else ""), source=str(d))
    return found


def run_report(notebooks: str | os.PathLike[str], out: str | os.PathLike[str], *, timeout: int = 600, only: list[str] | tuple[str, ...] = (), log: Any = None) -> list[Path]:
    """Execute every notebook and write ``<name>.html`` plus ``index.html`` to ``out``; return the pages."""
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


def run_report_cmd(args: argparse.Namespace) -> int:
    pages = run_report(args.notebooks, args.out, timeout=args.timeout, only=args.only, log=sys.stderr)
    print(f"{Path(args.out) / 'index.html'} ({len(pages)} notebooks)")
    return 0


# ----------------------------------------------------------------------- plot
def _load_imageset(args: argparse.Namespace):
    from ..imageset import default_imageset, load_imageset
    from ..popularity import load_popularity

    pop = load_popularity(args.popularity) if getattr(args, "popularity", None) else None
    if args.imageset:
        s = load_imageset(args.imageset, popularity=pop)
        if s.popularity is None:
            from ..widgets import DATA_DIR

            default_pop = DATA_DIR / "debian" / "popularity.json"
            if default_pop.is_file():
                s = s.with_popularity(load_popularity(default_pop))
        return s
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
        if args.kind == "tree":
            tree = plot.strategy_tree(strategy, graph, context, args.budget)
            fig = plot.dominator_tree(graph, tree.layers, idom=tree.idom, big=tree.big, popular=tree.popular)
        else:
            layers = strategy.group(graph, context, args.budget)
            fig = plot.layer_sizes(layers, title=f"{graph.name}: {len(layers)} layers ({strategy.name}, budget {args.budget})")
    elif args.kind == "overlap":
        from ..metrics import layer_imageset
        from ..metrics.overlap import overlap, overlap_matrix
        from ..strategies import Context

        strategy, context = strategy_from_args(args)
        s = _load_imageset(args)
        if context.popularity is None:
            context = Context(popularity=s.popularity)
        frame, _ = overlap(layer_imageset(strategy, s, args.budget, context))
        m = overlap_matrix(frame, args.value)
        as_bytes = args.value != "layer_share"
        label = {"layer_share": "shared layer bytes / shared path bytes", "shared_layer_bytes": "bytes in identical layers", "shared_path_bytes": "bytes of shared paths"}[args.value]
        fig = plot.overlap_heatmap(m.fillna(0), title=f"{s.name}: {strategy.name}, budget {args.budget}", value_label=label, as_bytes=as_bytes)
    elif args.kind == "pull":
        from ..metrics import ideal_bytes
        from ..metrics.sweep import sweep

        s = _load_imageset(args)
        names = [n.strip() for n in args.strategies.split(",") if n.strip()]
        budgets = _int_list(args.budgets, "--budgets")
        df = sweep(s, names, budgets, rules=(args.rule,), executor="serial", progress=False)
        curves = {}
        for n, name in enumerate(names):
            rows = df.iloc[n * len(budgets) : (n + 1) * len(budgets)]
            curves[name] = dict(zip(rows["budget"].tolist(), rows["pulled_bytes"].tolist()))
        fig = plot.pull_vs_budget(curves, ideal_bytes(s), title=f"Pull bytes over {s.name} ({len(s)} images, {args.rule} rule)")
    elif args.kind == "sweep":
        from ..metrics.sweep import grid, sweep
        from ..strategies import get_strategy, strategy_class

        cls, _ = strategy_class(args.strategy)
        xname, xs = _parse_axis(args.x, cls, "--x")
        yname, ys = _parse_axis(args.y, cls, "--y")
        if xname == yname:
            raise ConfigError("the two axes must be different parameters", source="--y")
        s = _load_imageset(args)
        points = grid(get_strategy(args.strategy), {yname: ys, xname: xs})
        df = sweep(s, points, [args.budget], rules=(args.rule,), executor="serial", progress=False)
        values = df["pulled_bytes"].to_numpy().reshape(len(ys), len(xs))
        i, j = divmod(int(values.argmin()), len(xs))
        fig = plot.sweep_heatmap(
            values, xs, ys, x_label=xname.replace("_", " "), y_label=yname.replace("_", " "),
            title=f"{s.name}: {args.strategy}, budget {args.budget}, pull bytes ({args.rule})",
            best=(xs[j], ys[i]), x_bytes=cls.param(xname).kind == "bytes", y_bytes=cls.param(yname).kind == "bytes",
        )
    else:  # pragma: no cover - argparse restricts the choices
        raise ConfigError(f"unknown plot kind {args.kind}")
    plot.save_png(fig, args.out, dpi=args.dpi)
    print(args.out)
    return 0


def _int_list(text: str, where: str) -> list[int]:
    from ..errors import ConfigError

    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated integers, got {text!r}", source=where) from None
    if not out:
        raise ConfigError("no values given", source=where)
    return out
