"""A throwaway ``docker-registry`` on 127.0.0.1, for trying pushes and pulls on one machine.

:func:`local_registry` starts the CNCF distribution registry (Debian's
``docker-registry`` package) with a configuration of its own: filesystem
storage in a directory you choose, a free port on 127.0.0.1, optionally
htpasswd (or another) authentication and TLS.  It waits until ``/v2/``
answers and returns a :class:`LocalRegistry`; ``stop()``, or the end of a
``with`` block, stops the registry's whole process group.  The registry also
gets ``SIGTERM`` when the Python process that started it dies
(:func:`~layerlab.procs.guarded_command`), so none is left behind.

The configuration is written as JSON, which the registry's YAML reader takes
as it is; its keys are those of the distribution registry's configuration
reference (``storage.filesystem.rootdirectory``, ``http.addr``,
``http.tls``, ``auth.htpasswd``...).

Example:
    >>> from layerlab.registry import push
    >>> with local_registry("build/registry") as reg:  # doctest: +SKIP
    ...     report = push(image, store, f"http://{reg.host}/team/app:v1")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .errors import ConfigError, RegistryError
from .fileio import atomic_write
from .net import free_port
from .procs import guarded_command

__all__ = ["LocalRegistry", "local_registry", "registry_config"]

_WHERE = "local registry"


@dataclass
class LocalRegistry:
    """A running ``docker-registry`` (see :func:`local_registry`).

    Attributes:
        host: ``127.0.0.1:PORT``, as image references name it.
        scheme: ``http``, or ``https`` with TLS.
        storage: the registry's storage directory.
        log: the registry's log file (its access log included).
        proc: the registry process.
    """

    host: str
    scheme: str
    storage: Path
    log: Path
    proc: subprocess.Popen[bytes]
    _temporary: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The base URL: ``http://127.0.0.1:PORT`` (``https://`` with TLS).

        Example:
            >>> import requests
            >>> with local_registry() as reg:  # doctest: +SKIP
            ...     requests.get(f"{reg.url}/v2/").status_code
            200
        """
        return f"{self.scheme}://{self.host}"

    def log_text(self) -> str:
        """What the registry has logged so far.

        Example:
            >>> with local_registry() as reg:  # doctest: +SKIP
            ...     "GET /v2/" in reg.log_text()
            True
        """
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the registry's process group: ``SIGTERM``, then ``SIGKILL`` after ``timeout`` seconds.

        Calling it again does nothing; a temporary directory made for the
        registry is removed.

        Example:
            >>> reg = local_registry()  # doctest: +SKIP
            >>> reg.stop(); reg.proc.poll() is not None  # doctest: +SKIP
            True
        """
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.proc.pid, signal.SIGKILL)  # whatever is left of the group
        self.proc.wait()
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def registry_config(
    storage: str | os.PathLike[str],
    port: int,
    *,
    htpasswd: str | os.PathLike[str] | None = None,
    auth: Mapping[str, Any] | None = None,
    tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """The registry configuration :func:`local_registry` writes (as JSON).

    ``htpasswd`` names an htpasswd file (bcrypt entries, as ``htpasswd -B``
    writes); ``auth`` is the configuration's whole ``auth`` section instead
    (``{"token": {...}}``, say); ``tls`` is (certificate, key).

    Example:
        >>> c = registry_config("/srv/reg", 5000, htpasswd="/srv/htpasswd")
        >>> c["http"]["addr"], c["storage"]["filesystem"], c["auth"]["htpasswd"]["path"]
        ('127.0.0.1:5000', {'rootdirectory': '/srv/reg'}, '/srv/htpasswd')
        >>> registry_config("/srv/reg", 5000, htpasswd="/p", auth={"silly": {}})
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: local registry: give htpasswd or auth, not both
    """
    if htpasswd is not None and auth is not None:
        raise ConfigError("give htpasswd or auth, not both", source=_WHERE)
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": os.urandom(16).hex()}
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": http,
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "layerlab", "path": str(htpasswd)}}
    elif auth is not None:
        config["auth"] = dict(auth)
    return config


def local_registry(
    workdir: str | os.PathLike[str] | None = None,
    *,
    storage: str | os.PathLike[str] | None = None,
    htpasswd: str | os.PathLike[str] | None = None,
    auth: Mapping[str, Any] | None = None,
    tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
    timeout: float = 20.0,
) -> LocalRegistry:
    """Start ``docker-registry`` on a free port of 127.0.0.1 and wait until it answers.

    Args:
        workdir: where the configuration, the log and (by default) the
            storage go; a temporary directory, removed by ``stop()``, when None.
        storage: the storage directory (default ``WORKDIR/registry-storage``);
            name an earlier one to restart a registry on the same blobs.
        htpasswd: an htpasswd file to check credentials against (see :func:`registry_config`).
        auth: the configuration's whole ``auth`` section instead (see :func:`registry_config`).
        tls: (certificate, key) to serve HTTPS.
        timeout: seconds to wait for the first answer.

    Returns:
        The running registry; use it in a ``with`` block, or call ``stop()``.

    Raises:
        RegistryError: ``docker-registry`` is not installed, exited, or did not
            answer in time (the message quotes its last log line).

    Example:
        >>> with local_registry("build/registry") as reg:  # doctest: +SKIP
        ...     reg.host.startswith("127.0.0.1:"), reg.scheme
        (True, 'http')
    """
    exe = shutil.which("docker-registry")
    if exe is None:
        raise RegistryError(
            "docker-registry is not installed (Debian package docker-registry, the CNCF distribution registry)",
            source=_WHERE,
        )
    temporary = None
    if workdir is None:
        temporary = tempfile.TemporaryDirectory(prefix="layerlab-registry-")
        workdir = temporary.name
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    store = Path(storage) if storage is not None else work / "registry-storage"
    store.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = registry_config(store, port, htpasswd=htpasswd, auth=auth, tls=tls)
    config_file = work / "registry.yml"
    atomic_write(config_file, orjson.dumps(config, option=orjson.OPT_INDENT_2))
    log = work / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            guarded_command([exe, "serve", str(config_file)], sig="TERM"),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    reg = LocalRegistry(f"127.0.0.1:{port}", "https" if tls else "http", store, log, proc, temporary)
    try:
        _wait_until_it_answers(reg, timeout)
    except BaseException:
        reg.stop()
        raise
    return reg


def _wait_until_it_answers(reg: LocalRegistry, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the probe does not check a certificate
                requests.get(f"{reg.url}/v2/", timeout=1, verify=False)
            return
        except requests.RequestException:
            if reg.proc.poll() is not None:
                raise RegistryError(
                    f"docker-registry exited with status {reg.proc.returncode}: {_last_line(reg)}", source=_WHERE
                ) from None
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"docker-registry did not answer within {timeout:g} s: {_last_line(reg)}", source=_WHERE
                ) from None
            time.sleep(0.05)


def _last_line(reg: LocalRegistry) -> str:
    lines = [line for line in reg.log_text().splitlines() if line.strip()]
    return lines[-1] if lines else "nothing logged"
