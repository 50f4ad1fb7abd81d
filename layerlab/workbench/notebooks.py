"""Notebooks of the workbench: where they are, starting JupyterLab on them, running them headless.

* :func:`jupyter_command` is the command line starting JupyterLab on a
  directory (127.0.0.1, a given port and token); :func:`run_lab` starts it,
  waits until it answers, reports the URL and stops it on Ctrl-C.
* :func:`execute_notebook` runs a notebook top to bottom with a real kernel
  (``nbclient``); a cell error becomes one line naming the notebook, the cell
  and the exception.

The notebooks run in the kernel named ``python3``; Jupyter replaces its
``python`` command by the interpreter running the server, so the kernel uses
the same virtual environment as ``layerlab`` itself.

Example:
    >>> [p.name for p in notebooks_in(NOTEBOOK_DIR, ["01"])]
    ['01-tune-thresholds.ipynb']
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, LayerlabError
from ..net import free_port, wait_for_server

__all__ = [
    "NOTEBOOK_DIR",
    "KERNEL_NAME",
    "WORKING_COPY",
    "jupyter_command",
    "run_lab",
    "execute_notebook",
    "notebooks_in",
    "in_source_checkout",
    "working_copy",
    "require_workbench",
]

#: The notebooks shipped with layerlab: ``layerlab/notebooks`` in an installed
#: package; in a source checkout a link to ``notebooks/``, resolved here.
NOTEBOOK_DIR = (Path(__file__).resolve().parent.parent / "notebooks").resolve()

#: JupyterLab settings overrides used by the workbench (``overrides.json``).
LAB_SETTINGS_DIR = Path(__file__).resolve().parent / "lab"

#: The working copy ``layerlab workbench`` makes of an installed package's notebooks.
WORKING_COPY = "layerlab-notebooks"

#: The kernel the notebooks run in.
KERNEL_NAME = "python3"


def jupyter_command(
    notebooks: str | os.PathLike[str], port: int, token: str, *, ip: str = "127.0.0.1", open_browser: bool = False
) -> list[str]:
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
        # Settings overrides shipped with layerlab: no news prompt, no update check.
        f"--LabApp.app_settings_dir={LAB_SETTINGS_DIR}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")
    return cmd


def run_lab(
    notebooks: str | os.PathLike[str],
    *,
    port: int = 0,
    ip: str = "127.0.0.1",
    token: str | None = None,
    open_browser: bool = False,
    announce: Callable[[str], None] = print,
) -> int:
    """Start JupyterLab on ``notebooks``, announce its URL once it answers, wait until it stops.

    Ctrl-C stops the server and returns 0; otherwise the server's exit status.

    Raises:
        ConfigError: ``notebooks`` is not a directory.
        LayerlabError: the server exited or did not answer in time.

    Example::

        run_lab("notebooks")   # prints: layerlab workbench: http://127.0.0.1:PORT/lab?token=...

    Example:
        >>> run_lab("/nonexistent")
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: /nonexistent: no such directory
    """
    import secrets
    import subprocess

    from ..procs import guarded_command

    notebooks = Path(notebooks)
    if not notebooks.is_dir():
        raise ConfigError("no such directory", source=str(notebooks))
    port = port or free_port(ip)
    token = token or secrets.token_hex(16)
    cmd = jupyter_command(notebooks, port, token, ip=ip, open_browser=open_browser)
    # Its own session, so a terminal's Ctrl-C reaches only layerlab, which stops the server (no
    # confirmation prompt); SIGTERM when layerlab dies, so it shuts its kernels down (layerlab.procs).
    proc = subprocess.Popen(guarded_command(cmd, sig="TERM"), start_new_session=True)
    url = f"http://{ip}:{port}"
    try:
        wait_for_server(url, token, proc)
        announce(f"layerlab workbench: {url}/lab?token={token}")
        announce("Stop it with Ctrl-C.")
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP (layerlab.procs.interrupt_on_signals)
        return 0
    finally:
        _stop_server(proc)


def _stop_server(proc: Any, grace: float = 10.0) -> None:
    """Stop JupyterLab and every process it started (kernels run in sessions of their own)."""
    import signal
    import subprocess

    from ..procs import descendants, start_time

    family = [(pid, start_time(pid)) for pid in descendants(proc.pid)]
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid, started in family:  # whatever outlived the server (the same process, not a reused pid)
        if started is None or start_time(pid) != started:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def execute_notebook(path: str | os.PathLike[str], *, timeout: int = 600, kernel_name: str = KERNEL_NAME):
    """Run a notebook top to bottom in a fresh kernel; return the executed notebook.

    The kernel's working directory is the notebook's directory.

    Raises:
        LayerlabError: a cell raised (the message names the notebook, the cell
            number and the exception) or the notebook cannot be read.

    Example:
        >>> nb = execute_notebook(NOTEBOOK_DIR / "01-tune-thresholds.ipynb")  # doctest: +SKIP
        >>> execute_notebook("/nonexistent.ipynb")
        Traceback (most recent call last):
        ...
        layerlab.errors.InputError: /nonexistent.ipynb: cannot read notebook: [Errno 2] No such file or directory: ...
    """
    import tempfile

    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    p = Path(path)
    try:
        nb = nbformat.read(p, as_version=4)
    except (OSError, nbformat.reader.NotJSONError, ValueError) as err:
        raise InputError(f"cannot read notebook: {err}", source=str(p)) from None
    # The kernel talks over Unix sockets in a private directory: nothing is
    # exposed on a TCP port, and the kernel has no reason to warn about it.
    sockets = tempfile.TemporaryDirectory(prefix="layerlab-kernel-")
    km = KernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(sockets.name, "kernel"))
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(p.parent.resolve())}},
        store_widget_state=False,
    )
    try:
        with sockets:
            client.execute(cleanup_kc=True)  # shut the kernel down even though the manager is ours
    except CellExecutionError as err:
        cell = _failed_cell(nb)
        line = f"{err.ename}: {err.evalue}".strip().splitlines()[0] if err.ename else str(err).strip().splitlines()[-1]
        raise LayerlabError(f"cell {cell} failed: {line}", source=str(p)) from None
    except (CellTimeoutError, DeadKernelError) as err:
        raise LayerlabError(
            f"cell {_failed_cell(nb)}: {type(err).__name__}: {str(err).splitlines()[0]}", source=str(p)
        ) from None
    return nb


def _failed_cell(nb: Any) -> int:
    for n, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", ())):
            return n
    last = [n for n, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
    return last[-1] if last else 0


def notebooks_in(directory: str | os.PathLike[str], only: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The notebooks of a directory, in file-name order (checkpoints skipped).

    Raises:
        ConfigError: the directory does not exist or holds no notebook.

    Example:
        >>> [p.name for p in notebooks_in(NOTEBOOK_DIR, ["02"])]
        ['02-why-this-split.ipynb']
    """

    d = Path(directory)
    if not d.is_dir():
        raise ConfigError("no such directory", source=str(d))
    found = sorted(p for p in d.glob("*.ipynb") if not p.name.startswith("."))
    if only:
        found = [p for p in found if any(o in p.stem for o in only)]
    if not found:
        raise ConfigError("no notebooks found" + (f" matching {', '.join(only)}" if only else ""), source=str(d))
    return found


def in_source_checkout(notebooks: str | os.PathLike[str] = NOTEBOOK_DIR) -> bool:
    """Whether ``notebooks`` is the ``notebooks/`` directory of a source checkout (not an installed package).

    Example:
        >>> in_source_checkout("/usr/lib/python3/site-packages/layerlab/notebooks")
        False
    """
    d = Path(notebooks).resolve()
    return (d.parent / "pyproject.toml").is_file() and (d.parent / "layerlab").is_dir()


def working_copy(target: str | os.PathLike[str] | None = None, source: str | os.PathLike[str] = NOTEBOOK_DIR) -> Path:
    """The directory the workbench opens: the notebooks themselves in a source checkout, else a copy.

    An installed package's notebooks are never edited in place: they are
    copied to ``target`` (default ``./layerlab-notebooks``), which is created
    when missing.  A notebook already in the copy is kept as it is, so edits
    survive the next start; notebooks missing from it are added.

    Example:
        >>> import tempfile
        >>> d = working_copy(Path(tempfile.mkdtemp()) / "copy", source=NOTEBOOK_DIR)
        >>> sorted(p.name for p in d.glob("*.ipynb")) == sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
        True
    """
    import shutil

    src = Path(source)
    if target is None:
        if in_source_checkout(src):
            return src
        target = Path.cwd() / WORKING_COPY
    dest = Path(target)
    found = notebooks_in(src)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for nb in found:
            if not (dest / nb.name).exists():
                shutil.copyfile(nb, dest / nb.name)
    except OSError as err:
        raise ConfigError(
            f"cannot make a working copy of the notebooks: {err.strerror or err}", source=str(dest)
        ) from None
    return dest


def require_workbench(*modules: str) -> None:
    """Fail with one line naming the ``workbench`` extra when a notebook library is missing.

    Example:
        >>> require_workbench("json")
        >>> require_workbench("no_such_module_xyz")
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: layerlab workbench: no_such_module_xyz is not installed; \
install the workbench extra \
(pip install 'layerlab[workbench]', or '.[workbench]' in a clone)
    """
    import importlib.util

    for name in modules or ("jupyterlab", "nbclient", "nbconvert", "ipykernel", "anywidget"):
        if importlib.util.find_spec(name) is None:
            raise ConfigError(
                f"{name} is not installed; install the workbench extra "
                "(pip install 'layerlab[workbench]', or '.[workbench]' in a clone)",
                source="layerlab workbench",
            )
