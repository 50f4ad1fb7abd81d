"""Support for the ``layerlab serve`` tests: a real server process, a real nginx.

It holds no tests; ``tests/test_serve*.py`` import it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from layerlab.net import free_port

ROOT = Path(__file__).resolve().parent.parent
TESTPKGS = ROOT / "nix" / "testpkgs"
SRC = f"path!{TESTPKGS}"


@dataclass
class Server:
    """A running ``layerlab serve``: its address, store, log file and process."""

    host: str
    store: Path
    log: Path
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def events(self, kind: str | None = None) -> list[dict]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if kind is None or e.get("event") == kind:
                out.append(e)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            requests.get(f"{url}/v2/", timeout=1)
            return
        except requests.ConnectionError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("layerlab serve did not start: " + log.read_text()[-3000:]) from None
            time.sleep(0.05)


@contextlib.contextmanager
def serve(
    workdir: Path, *args: str, source: str = SRC, store: Path | None = None, port: int | None = None
) -> Iterator[Server]:
    """Start ``layerlab serve --source SOURCE --offline ARGS`` on 127.0.0.1; stop it on exit."""
    port = port or free_port()
    store = store or workdir / "store"
    log = workdir / f"serve-{port}.log"
    env = {**os.environ, "LAYERLAB_CACHE_DIR": str(workdir / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "layerlab.cli",
        "serve",
        "--source",
        source,
        "--offline",
        "--port",
        str(port),
        "--store",
        str(store),
        "--log",
        str(log),
        *args,
    ]
    err = open(workdir / f"serve-{port}.stderr", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=workdir)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, workdir / f"serve-{port}.stderr")
        yield Server(f"127.0.0.1:{port}", store, log, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        err.close()


@contextlib.contextmanager
def nginx(workdir: Path, root: Path) -> Iterator[tuple[str, Path]]:
    """Debian's nginx serving ``root`` as static files on a free port; yields (base URL, access log)."""
    port = free_port()
    conf_dir = workdir / "nginx"
    conf_dir.mkdir(parents=True, exist_ok=True)
    access = conf_dir / "access.log"
    conf = conf_dir / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # workers read the store as its owner
        + "daemon off;\nworker_processes 1;\npid "
        + str(conf_dir / "nginx.pid")
        + ";\n"
        "error_log " + str(conf_dir / "error.log") + " warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "  access_log " + str(access) + ";\n"
        "  client_body_temp_path " + str(conf_dir) + "/body;\n  proxy_temp_path " + str(conf_dir) + "/proxy;\n"
        "  fastcgi_temp_path " + str(conf_dir) + "/fastcgi;\n  uwsgi_temp_path " + str(conf_dir) + "/uwsgi;\n"
        "  scgi_temp_path " + str(conf_dir) + "/scgi;\n"
        "  sendfile on;\n  default_type application/octet-stream;\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n"
        "}\n"
    )
    proc = subprocess.Popen(
        [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-p", str(conf_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 20
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("nginx did not start: " + (conf_dir / "error.log").read_text()) from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", access
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
