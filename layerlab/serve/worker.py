"""One image build, in a process of its own: ``python -m layerlab.serve.worker``.

The server starts one worker per build and reads one JSON line back, so a
build never holds the server's event loop or its interpreter lock, and a build
that runs past its time can be stopped for certain (the worker and the Nix
commands it runs are interrupted, then killed).  The server keeps one worker
started ahead of time: it imports the build's modules, then waits for its
request (an empty stdin means none will come), so a build does not wait for
an interpreter to start.

The worker reads ``{"settings", "configuration", "request", "key", "parent"}`` on stdin, runs
the same steps as ``layerlab build SOURCE PKG...``
(:func:`layerlab.image.from_source.plan_from_source`, then
:func:`layerlab.image.build_image`), records the image in the manifest cache
(:class:`~layerlab.serve.cache.ManifestCache`) and prints ``{"ok": true,
"seconds": {step: s}}``, or ``{"error": {"code", "message", "detail"}}`` in the
registry's error vocabulary.

Blobs being written go to ``<store>/tmp/serve-<pid>/`` and are renamed into
``blobs/`` only when complete; the directory is removed when the worker ends,
and the server removes those of workers that were killed.  The worker asks
the kernel to stop it when the server dies (``PR_SET_PDEATHSIG``); told to
stop, it interrupts its work, and its whole process group (the layer builders
it forked) is killed if it has not ended within ``STOP_GRACE`` seconds.

Example:
    >>> worker_tmp("/srv/store", 42)
    PosixPath('/srv/store/tmp/serve-42')
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson

__all__ = ["build_entry", "error_doc", "main", "worker_tmp"]


def worker_tmp(store_root: str | os.PathLike[str], pid: int) -> Path:
    """The directory where the worker ``pid`` writes blobs in progress.

    Example:
        >>> worker_tmp("/srv/store", 7).name
        'serve-7'
    """
    return Path(store_root) / "tmp" / f"serve-{pid}"


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


#: Seconds a worker told to stop may spend stopping Nix and its own processes before its group is killed.
STOP_GRACE = 8


def _kill_group(signum: int, frame: Any) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _interrupt(signum: int, frame: Any) -> None:
    # Stop as Ctrl-C would (run_nix then stops the Nix commands it started), but never linger: a pool of layer
    # builders being shut down can wait for ever, so the whole process group is killed after a grace period.
    signal.signal(signal.SIGALRM, _kill_group)
    signal.alarm(STOP_GRACE)
    raise KeyboardInterrupt


def build_entry(
    settings_doc: dict[str, Any], request_doc: dict[str, Any], key: str, configuration: dict[str, Any] | None = None
) -> dict[str, float]:
    """Build one image and record it in the manifest cache; return the seconds each step took
    (``nix``: closure and grouping, ``layers``: the blobs, ``record``: the cache entry).

    ``configuration`` is what the server keys its cache with (default: computed from the settings).

    Raises:
        LayerlabError: the build failed (NotFoundError names missing packages).

    Example:
        >>> sorted(build_entry(settings_doc, request_doc, key))  # doctest: +SKIP
        ['layers', 'nix', 'record']
    """
    from ..image import BlobStore, ImageConfig, build_image
    from ..image.from_source import plan_from_source
    from ..popularity import load_popularity
    from ..sources.nix import OFFLINE_CONFIG, parse_source, popularity, system_for_arch
    from ..strategies import Context
    from .cache import ManifestCache
    from .names import ImageRequest
    from .settings import ServeSettings

    start = time.monotonic()
    settings = ServeSettings(**settings_doc)
    request = ImageRequest(
        request_doc["name"],
        request_doc["tag"],
        tuple(request_doc["packages"]),
        request_doc["arch"],
        parse_source(request_doc["source"]),
    )
    store = BlobStore(settings.store)
    store.tmp = worker_tmp(store.root, os.getpid())
    store.tmp.mkdir(parents=True, exist_ok=True)
    nix_settings = OFFLINE_CONFIG if settings.offline else None
    pop = None
    if settings.popularity == "source":
        pop = popularity(request.source, settings=nix_settings, timeout=settings.build_timeout)
    elif settings.popularity:
        pop = load_popularity(settings.popularity)
    plan = plan_from_source(
        request.source,
        request.packages,
        settings.make_strategy(),
        Context(popularity=pop),
        settings.budget,
        settings=nix_settings,
        system=system_for_arch(request.arch),
        timeout=settings.build_timeout,
    )
    planned = time.monotonic()
    image = build_image(
        plan.closure.graph,
        plan.layers,
        plan.packages,
        store=store,
        compression=settings.compression,
        level=settings.level,
        config=ImageConfig(architecture=request.arch),
        workers=settings.workers,
        parallel="processes",
    )
    built = time.monotonic()
    cache = ManifestCache(store, configuration or settings.configuration(), ttl=settings.ttl)
    cache.put(key, image, request, seconds=built - start)
    return {
        "nix": round(planned - start, 3),
        "layers": round(built - planned, 3),
        "record": round(time.monotonic() - built, 3),
    }


def error_doc(err: BaseException) -> dict[str, Any]:
    """The registry error a failed build is answered with.

    Example:
        >>> from layerlab.errors import NotFoundError
        >>> error_doc(NotFoundError(["a", "b"], source="path!/x"))["detail"]
        {'packages': ['a', 'b']}
    """
    from ..errors import LayerlabError, NixError, NotFoundError

    if isinstance(err, NotFoundError):
        return {
            "code": "MANIFEST_UNKNOWN",
            "message": f"packages not found: {', '.join(err.packages)}",
            "detail": {"packages": err.packages},
        }
    if isinstance(err, NixError):
        lines = [ln.strip() for ln in err.message.splitlines()]
        return {
            "code": "UNKNOWN",
            "message": f"build failed: {err!s}",
            "detail": {"nix": [ln for ln in lines[1:] if ln]},
        }
    if isinstance(err, LayerlabError):
        return {"code": "UNKNOWN", "message": f"build failed: {err}"}
    return {"code": "UNKNOWN", "message": f"build failed: {type(err).__name__}: {err}"}


def _preload() -> None:
    """Import what a build needs, so that a worker started ahead of time is ready when its request comes."""
    from ..image import from_source  # noqa: F401
    from ..popularity import load_popularity  # noqa: F401
    from . import cache, names, settings  # noqa: F401


def main() -> int:
    """Read one build request on stdin, build, print the outcome as one JSON line; the exit status.

    Example:
        >>> import subprocess, sys
        >>> subprocess.run([sys.executable, "-m", "layerlab.serve.worker"], input=b"").returncode  # no request
        0
    """
    _die_with_parent()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _preload()
        data = sys.stdin.buffer.read()  # the server may start a worker before it has a build for it
    except KeyboardInterrupt:
        return 130
    if not data.strip():
        return 0  # the server ended without a build for this worker
    doc = orjson.loads(data)
    if os.getppid() != int(doc["parent"]):
        return 1  # the server that asked is gone
    tmp = None
    try:
        tmp = worker_tmp(doc["settings"]["store"], os.getpid())
        phases = build_entry(doc["settings"], doc["request"], doc["key"], doc.get("configuration"))
        out: dict[str, Any] = {"ok": True, "seconds": phases}
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - every failure is reported to the server as a registry error
        out = {"error": error_doc(err)}
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.buffer.write(orjson.dumps(out) + b"\n")
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
