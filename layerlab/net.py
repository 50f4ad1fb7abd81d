"""Small network helpers shared by the workbench, the registry tests and the notebooks.

:func:`free_port` finds a TCP port nothing listens on; :func:`wait_for_server`
polls a Jupyter-style ``/api/status`` endpoint until a freshly started server
answers.

Example:
    >>> 1024 <= free_port() < 65536
    True
"""

from __future__ import annotations

import socket
import time
from typing import Any

from .errors import LayerlabError

__all__ = ["free_port", "wait_for_server"]


def free_port(ip: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now.

    Example:
        >>> 1024 <= free_port() < 65536
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def wait_for_server(url: str, token: str, proc: Any, timeout: float = 120.0) -> None:
    """Poll ``url/api/status`` (with ``token``) until the server answers 200.

    ``proc`` is the server's :class:`subprocess.Popen`; its exit ends the wait.

    Raises:
        LayerlabError: the server exited or did not answer within ``timeout``.

    Example:
        >>> import subprocess, sys
        >>> p = subprocess.Popen([sys.executable, "-c", "pass"]); _ = p.wait()
        >>> wait_for_server(f"http://127.0.0.1:{free_port()}", "t", p, timeout=5)
        Traceback (most recent call last):
        ...
        layerlab.errors.LayerlabError: http://127.0.0.1:...: JupyterLab exited with status 0 before it answered
    """
    import requests

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
